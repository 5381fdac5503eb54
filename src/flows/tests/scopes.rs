//! Required scopes, audience, groups and roles in memory: 403 insufficient_scope for bearer
//! tokens, for tokens the filter got itself and for sessions (opaque tokens are introspected).

use crate::flows::harness::*;

#[test]
fn required_scopes_audience_groups_and_roles_are_403_insufficient_scope() {
    let token = access_token(json!({}));
    let allowed = [
        json!({"scopes_required": ["openid profile"]}),
        json!({"scopes_required": ["admin", "profile"]}),
        json!({"audience_required": ["kong"]}),
        json!({"groups_required": ["users"]}),
        json!({"roles_required": ["viewer"]}),
    ];
    for extra in allowed {
        let settings = settings(merged(json!({"auth_methods": ["bearer"]}), extra.clone()));
        let run = Run::get(&settings, ("authorization", &bearer(&token)), NOW);
        assert!(
            matches!(run.last(), Step::Forward(_)),
            "{extra}: {:?}",
            run.last()
        );
    }
    let refused = [
        (
            json!({"scopes_required": ["admin"]}),
            "required scopes were not found [ openid, profile ]",
        ),
        (
            json!({"scopes_required": ["openid admin"]}),
            "required scopes were not found",
        ),
        (
            json!({"audience_required": ["api"]}),
            "required audience were not found [ kong ]",
        ),
        (
            json!({"groups_required": ["admins"]}),
            "required groups were not found [ users ]",
        ),
        (
            json!({"roles_required": ["admin"]}),
            "required roles were not found [ viewer ]",
        ),
        (
            json!({"roles_required": ["admin"], "roles_claim": ["realm_access", "roles"]}),
            "roles required but no roles found",
        ),
    ];
    for (extra, reason) in refused {
        let settings = settings(merged(
            json!({"auth_methods": ["bearer", "session"]}),
            extra,
        ));
        let run = Run::get(&settings, ("authorization", &bearer(&token)), NOW);
        assert_forbidden(&run, reason);
        assert!(
            set_cookies(&run.response().headers).is_empty(),
            "no session for a forbidden request"
        );
    }
}

#[test]
fn requirements_apply_to_logins_and_sessions_and_opaque_tokens_are_introspected_for_them() {
    let settings = self::settings(
        json!({"auth_methods": ["password", "session"], "scopes_required": ["email"]}),
    );
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    run.feed(&settings, token_answer("opaque-at", 300), NOW);
    // The access token is opaque: its scopes come from introspection.
    assert_eq!(run.last_call().path, "/token/introspection");
    run.feed(
        &settings,
        ok_json(json!({"active": true, "scope": "openid"})),
        NOW,
    );
    assert_forbidden(&run, "required scopes were not found [ openid ]");
    assert!(set_cookies(&run.response().headers).is_empty());

    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    run.feed(&settings, token_answer("opaque-at", 300), NOW);
    run.feed(
        &settings,
        ok_json(json!({"active": true, "scope": "openid email"})),
        NOW,
    );
    let cookie = first_cookie(&run.forward().add_response_headers);

    // A session whose token lacks a scope that became required is refused and destroyed.
    let stricter = self::settings(
        json!({"auth_methods": ["password", "session"], "scopes_required": ["admin"]}),
    );
    let mut run = Run::get(&stricter, ("cookie", &cookie), NOW + 10);
    run.feed(
        &stricter,
        ok_json(json!({"active": true, "scope": "openid email"})),
        NOW + 10,
    );
    assert_forbidden(&run, "required scopes were not found");
    assert!(set_cookies(&run.response().headers)
        .iter()
        .any(|c| c.starts_with("session=;")));

    // No introspection endpoint: nothing to read the scopes from.
    let no_endpoint = self::settings(
        json!({"auth_methods": ["password"], "scopes_required": ["email"],
                                            "introspection_endpoint": null}),
    );
    let mut run = Run::with_provider(
        &no_endpoint,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider_with(json!({"introspection_endpoint": null}))),
        NOW,
    );
    run.feed(&no_endpoint, token_answer("opaque", 300), NOW);
    let step = run.last();
    assert!(
        matches!(step, Step::Respond(r) if r.status == 403),
        "{step:?}"
    );
}
