#!/usr/bin/env python3
"""Logs in many sessions for bench/run.sh and writes one request header line per session.

    login-sessions.py ours URL COUNT OUT      # our filter: the password grant (john:doe)
    login-sessions.py peer URL COUNT OUT      # mod_auth_openidc: the authorization code flow

Each line of OUT is `Cookie: <value>`, the Cookie header that carries one session; the wrk
script bench/pick-header.lua sends them. Every session is a real login: ours asks the gateway
with HTTP basic credentials (the filter's password grant; the route's config has
cache_tokens off, so every session holds tokens of its own), the peer's drives Apache's
redirect to the test IdP, posts its login form and follows the redirects back to Apache, as
`login_peer` in run.sh does with curl. Logins run on a few threads; the first failure stops
the run with its reason.
"""
import base64
import concurrent.futures
import http.client
import http.cookiejar
import sys
import threading
import urllib.parse
import urllib.request

THREADS = 8
USERS = [("john", "doe"), ("jane", "doe"), ("alice", "wonderland"), ("bob", "builder")]


def session_cookies(set_cookies, prefix):
    """`name=value` of the Set-Cookie values whose name starts with `prefix`."""
    pairs = []
    for value in set_cookies:
        pair = value.split(";", 1)[0].strip()
        name, _, cookie = pair.partition("=")
        if name.startswith(prefix) and cookie:
            pairs.append(pair)
    return "; ".join(pairs)


class Ours:
    def __init__(self, url):
        self.url = urllib.parse.urlsplit(url)
        self.local = threading.local()

    def connection(self):
        if getattr(self.local, "conn", None) is None:
            self.local.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
        return self.local.conn

    def login(self, index):
        user, password = USERS[index % len(USERS)]
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        conn = self.connection()
        try:
            conn.request("GET", self.url.path or "/", headers={"Authorization": f"Basic {token}"})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            raise
        cookie = session_cookies(response.headers.get_all("Set-Cookie") or [], "session")
        if response.status != 200 or not cookie:
            raise RuntimeError(f"login {index}: status {response.status}, no session cookie")
        return cookie


class Peer:
    def __init__(self, url):
        self.url = url

    def login(self, index):
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        # As a browser (and curl) asks: without an Accept header mod_auth_openidc takes the
        # request for a non-browser client and answers 401 instead of redirecting to the IdP.
        opener.addheaders = [("Accept", "text/html,*/*")]
        with opener.open(self.url, timeout=30) as response:
            form_url = response.geturl()
            response.read()
        user, password = USERS[index % len(USERS)]
        body = urllib.parse.urlencode({"username": user, "password": password}).encode()
        with opener.open(form_url + "/login", data=body, timeout=30) as response:
            response.read()
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar if c.name.startswith("mod_auth_openidc_session"))
        if not cookie:
            raise RuntimeError(f"login {index}: the code flow ended without a session cookie")
        return cookie


def main():
    mode, url, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    side = Ours(url) if mode == "ours" else Peer(url)
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        cookies = list(pool.map(side.login, range(count)))
    if len(set(cookies)) != count:
        raise SystemExit(f"{mode}: {count - len(set(cookies))} sessions were not distinct")
    with open(out, "w") as file:
        for cookie in cookies:
            file.write(f"Cookie: {cookie}\n")


if __name__ == "__main__":
    main()
