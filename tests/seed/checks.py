#!/usr/bin/env python3
"""Checks for the seed scenario (tests/seed/run.sh). Standard library only.

  checks.py mark                  print the seq of the IdP's newest event (0 if none)
  checks.py patch-response FILE   check the Admin API answer to the seed's PATCH
                                  (HTTPie --print=hb output in FILE)
  checks.py idp M1 M2 M3 M4 M5    check, through the IdP's /__test/events, what the
                                  gateway did at the IdP in seed steps 2 to 5; Mi is
                                  the mark taken right after seed step i

Each check prints "  ok   ..." or "  FAIL ..."; the exit status is 1 if any failed.

Environment: IDP_URL (default http://127.0.0.1:8080), IDP_CLIENT_ID (kong),
IDP_CLIENT_SECRET (secret) for the final introspection.
"""
import base64
import json
import os
import sys
import urllib.parse
import urllib.request

IDP_URL = os.environ.get("IDP_URL", "http://127.0.0.1:8080").rstrip("/")
CLIENT_ID = os.environ.get("IDP_CLIENT_ID", "kong")
CLIENT_SECRET = os.environ.get("IDP_CLIENT_SECRET", "secret")


def fetch_events():
    with urllib.request.urlopen(f"{IDP_URL}/__test/events", timeout=10) as res:
        return json.load(res)


def introspect(token):
    request = urllib.request.Request(
        f"{IDP_URL}/token/introspection",
        data=urllib.parse.urlencode({"token": token}).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as res:
        return json.load(res)


def between(events, low, high=None):
    return [e for e in events if e["seq"] > low and (high is None or e["seq"] <= high)]


def short(token):
    return f"{token[:12]}..." if isinstance(token, str) and len(token) > 12 else repr(token)


class Checker:
    def __init__(self):
        self.failures = []

    def expect(self, condition, message):
        print(("  ok   " if condition else "  FAIL ") + message)
        if not condition:
            self.failures.append(message)
        return condition


PLUGIN_ID = "5f35b796-ced6-4c00-9b2a-90eef745f4f9"


def check_patch_response(path):
    text = open(path, encoding="utf-8").read()
    c = Checker()
    _, _, body = text.replace("\r\n", "\n").partition("\n\n")
    try:
        plugin = json.loads(body)
    except ValueError:
        c.expect(False, f"the PATCH answer is JSON (got {body[:80]!r})")
        return 1
    config = plugin.get("config") or {}
    c.expect(plugin.get("id") == PLUGIN_ID, f"id is {PLUGIN_ID}")
    c.expect(plugin.get("name") == "openid-connect", "name is openid-connect")
    c.expect(sorted(config.get("auth_methods") or []) == ["password", "session"],
             f"config.auth_methods is password and session (saw {config.get('auth_methods')!r})")
    c.expect(config.get("logout_uri_suffix") == "/logout", "config.logout_uri_suffix is /logout")
    c.expect(config.get("logout_methods") == ["POST"], f"config.logout_methods is [POST] (saw {config.get('logout_methods')!r})")
    c.expect(config.get("logout_revoke") is True, "config.logout_revoke is true")
    return 1 if c.failures else 0


def check(marks):
    after_patch, after_login, after_session, after_logout, after_check = marks
    events = fetch_events()
    c = Checker()

    print("step 2 (login with -a john:doe):")
    login_tokens = [e for e in between(events, after_patch, after_login) if e["type"] == "token"]
    c.expect(len(login_tokens) == 1, f"one token request at the IdP (saw {len(login_tokens)})")
    grant = login_tokens[-1] if login_tokens else {}
    c.expect(grant.get("grant_type") == "password", f"it is a password grant (saw {grant.get('grant_type')!r})")
    c.expect(grant.get("username") == "john", f"for john (saw {grant.get('username')!r})")
    c.expect(grant.get("status") == 200, f"and the IdP answered 200 (saw {grant.get('status')!r})")

    print("step 3 (session only):")
    session_tokens = [e for e in between(events, after_login, after_session) if e["type"] == "token"]
    c.expect(not session_tokens, f"no token request: the session cookie was used (saw {len(session_tokens)})")

    # The tokens the session holds: the newest ones issued before logout.
    issued = {}
    for event in between(events, after_patch, after_session):
        if event["type"] == "token" and event.get("status") == 200:
            issued = event.get("issued", {})

    print("step 4 (logout):")
    logout_events = between(events, after_session, after_logout)
    revocations = [e for e in logout_events if e["type"] == "revocation"]
    c.expect(len(revocations) == 2, f"two revocation requests (saw {len(revocations)})")
    hints = [e.get("token_type_hint") for e in revocations]
    c.expect(hints == ["refresh_token", "access_token"], f"refresh token first, then access token (saw {hints})")
    if len(revocations) == 2:
        refresh, access = revocations
        c.expect(refresh.get("token") == issued.get("refresh_token"),
                 f"the revoked refresh token is the one issued ({short(refresh.get('token'))})")
        c.expect(refresh.get("found") is True, "the IdP found the refresh token it revoked")
        c.expect(access.get("token") == issued.get("access_token"),
                 f"the revoked access token is the one issued ({short(access.get('token'))})")
        c.expect(all(e.get("status") == 200 for e in revocations), "both revocations answered 200")
    ends = [e for e in logout_events if e["type"] == "end_session"]
    c.expect(len(ends) == 1, f"one end_session request (saw {len(ends)})")
    if ends:
        end = ends[0]
        c.expect(bool(end.get("id_token_hint")), "it carried id_token_hint")
        c.expect(end.get("id_token_hint") == issued.get("id_token"), "the id_token_hint is the ID token issued at login")
        c.expect(end.get("status") == 200, f"the IdP ended it with 200 (saw {end.get('status')!r})")
        if revocations:
            c.expect(revocations[-1]["seq"] < end["seq"], "revocations happened before the redirect to end_session")

    print("step 5 (session gone):")
    # HTTPie still sends the `-a john:` of step 4 from its session, so the
    # gateway may try a password grant with an empty password: it must fail.
    late_tokens = [e for e in between(events, after_logout, after_check) if e["type"] == "token"]
    granted = [e for e in late_tokens if e.get("status") == 200]
    c.expect(not granted, f"no token was issued after logout (saw {len(granted)} of {len(late_tokens)} token requests succeed)")
    if late_tokens:
        c.expect(all(e.get("username") == "john" and e.get("error") == "invalid_grant" for e in late_tokens),
                 "the only token requests were password grants for john with the empty password, refused")

    print("after the seed:")
    if issued.get("refresh_token"):
        c.expect(introspect(issued["refresh_token"]).get("active") is False, "introspecting the refresh token answers active:false")
    if issued.get("access_token"):
        c.expect(introspect(issued["access_token"]).get("active") is False, "introspecting the access token answers active:false")

    return 1 if c.failures else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "mark":
        events = fetch_events()
        print(events[-1]["seq"] if events else 0)
        return 0
    if len(argv) == 3 and argv[1] == "patch-response":
        return check_patch_response(argv[2])
    if len(argv) == 7 and argv[1] == "idp":
        return check([int(m) for m in argv[2:]])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
