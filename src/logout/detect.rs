//! Is this request a logout? Kong's order: the method must be in `logout_methods`; then the
//! query argument; else the URI suffix; and only inside the suffix branch (a suffix is configured
//! but did not match) the POST argument. With no suffix configured the POST argument is never
//! looked at: a Kong quirk we keep, so configs behave the same.

use crate::config::Config;
use crate::http::request::IncomingRequest;
use crate::http::{form, url};

pub fn is_logout_request(config: &Config, request: &IncomingRequest) -> bool {
    if !config
        .logout_methods
        .iter()
        .any(|m| m.as_str().eq_ignore_ascii_case(&request.method))
    {
        return false;
    }
    if let Some(arg) = config.logout_query_arg.as_deref() {
        if request.query_args().iter().any(|(name, _)| name == arg) {
            return true;
        }
    }
    let Some(suffix) = config.logout_uri_suffix.as_deref() else {
        return false;
    };
    if suffix_matches(request.path_only(), suffix) {
        return true;
    }
    match config.logout_post_arg.as_deref() {
        Some(arg) => form::first(&request.body_args(), arg).is_some(),
        None => false,
    }
}

/// Compares the normalised path with the normalised suffix (Kong compares the forwarded path
/// without its query since 3.6).
pub(crate) fn suffix_matches(path: &str, suffix: &str) -> bool {
    let path = url::normalize_path(path);
    let suffix = url::normalize_path(suffix);
    let suffix = if suffix.len() > 1 {
        suffix.trim_end_matches('/')
    } else {
        suffix.as_str()
    };
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path.as_str()
    };
    path.ends_with(suffix)
}

/// Whether detection may need the request body (the POST-argument branch).
pub fn may_need_body(config: &Config, request: &IncomingRequest) -> bool {
    config.logout_post_arg.is_some()
        && config.logout_uri_suffix.is_some()
        && config
            .logout_methods
            .iter()
            .any(|m| m.as_str().eq_ignore_ascii_case(&request.method))
        && request.has_argument_body()
}

#[cfg(test)]
mod tests {
    use super::suffix_matches;

    #[test]
    fn suffix_comparison_is_normalised() {
        assert!(suffix_matches("/logout", "/logout"));
        assert!(suffix_matches("/app/logout", "/logout"));
        assert!(suffix_matches("/app//logout/", "/logout"));
        assert!(suffix_matches("/app/%6Cogout", "/logout"));
        assert!(!suffix_matches("/app/logout/x", "/logout"));
        assert!(!suffix_matches("/", "/logout"));
    }
}
