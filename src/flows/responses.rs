//! The responses Kong's plugin sends when it does not let a request through.

use crate::flows::settings::Settings;
use crate::step::LocalResponse;

/// Why a request was refused, for the log and the `rejections` metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// A short stable label (`no_credentials`, `invalid_grant`, ...), used as the metric name.
    pub label: &'static str,
    /// The detail for the log.
    pub detail: String,
}

impl Rejection {
    /// `detail` is a message or an error, logged as it displays.
    pub fn new(label: &'static str, detail: impl std::fmt::Display) -> Rejection {
        Rejection {
            label,
            detail: detail.to_string(),
        }
    }
}

/// 401 `{"message":"Unauthorized"}` with `WWW-Authenticate: Bearer realm="<issuer host>"` and,
/// when `expose_error_code`, `error="invalid_token"`. `clear_cookies` are the expiring session
/// cookies (Kong destroys a bad session: unauthorized_destroy_session). With
/// `unauthorized_redirect_uri` the client is redirected there instead (302, empty body).
pub fn unauthorized(
    settings: &Settings,
    rejection: &Rejection,
    clear_cookies: Vec<String>,
) -> LocalResponse {
    if let Some(location) = settings.config.unauthorized_redirect_uri() {
        let mut headers = vec![("location".to_string(), location.to_string())];
        headers.extend(
            clear_cookies
                .into_iter()
                .map(|c| ("set-cookie".to_string(), c)),
        );
        let reason = format!(
            "{}: {} (redirected to unauthorized_redirect_uri)",
            rejection.label, rejection.detail
        );
        return LocalResponse {
            status: 302,
            headers,
            body: Vec::new(),
            reason,
        };
    }
    let challenge = challenge(settings, "invalid_token");
    error_response(
        settings,
        401,
        &settings.config.unauthorized_error_message,
        rejection,
        Some(challenge),
        clear_cookies,
    )
}

/// 403 with `error="insufficient_scope"`.
pub fn forbidden(
    settings: &Settings,
    rejection: &Rejection,
    clear_cookies: Vec<String>,
) -> LocalResponse {
    let challenge = challenge(settings, "insufficient_scope");
    error_response(
        settings,
        403,
        &settings.config.forbidden_error_message,
        rejection,
        Some(challenge),
        clear_cookies,
    )
}

/// 500 `{"message":"An unexpected error occurred"}`.
pub fn unexpected(settings: &Settings, rejection: &Rejection) -> LocalResponse {
    error_response(
        settings,
        500,
        "An unexpected error occurred",
        rejection,
        None,
        Vec::new(),
    )
}

fn challenge(settings: &Settings, error: &str) -> String {
    let realm = settings.realm.replace(['"', '\\'], "");
    if settings.config.expose_error_code {
        format!("Bearer realm=\"{realm}\", error=\"{error}\"")
    } else {
        format!("Bearer realm=\"{realm}\"")
    }
}

fn error_response(
    settings: &Settings,
    status: u16,
    message: &str,
    rejection: &Rejection,
    challenge: Option<String>,
    clear_cookies: Vec<String>,
) -> LocalResponse {
    let message = if settings.config.display_errors {
        format!("{message} ({})", rejection.detail)
    } else {
        message.to_string()
    };
    let body = serde_json::json!({ "message": message })
        .to_string()
        .into_bytes();
    let mut headers = vec![(
        "content-type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    if let Some(challenge) = challenge {
        headers.push(("www-authenticate".to_string(), challenge));
    }
    headers.extend(
        clear_cookies
            .into_iter()
            .map(|c| ("set-cookie".to_string(), c)),
    );
    LocalResponse {
        status,
        headers,
        body,
        reason: format!("{}: {}", rejection.label, rejection.detail),
    }
}
