//! Everything a flow needs that is fixed for one configuration: the parsed config and the
//! session codecs built from it.

use crate::config::{self, ClientAuthMethod, Config};
use crate::flows::authorization_cookie::AuthorizationCookies;
use crate::flows::verified_tokens::VerifiedTokens;
use crate::http::cookies;
use crate::http::url::HttpUrl;
use crate::session::{SameSite, SessionCodec, SessionSettings};

/// The configuration in the form the flows use it.
pub struct Settings {
    pub config: Config,
    /// The `realm` of `WWW-Authenticate`: the issuer's host, as Kong sends it.
    pub realm: String,
    /// Session cookies when they are not `Secure`.
    session_plain: SessionCodec,
    /// Session cookies with `Secure`: used when `session_cookie_secure` is true, or unset and the
    /// client came over https (Kong's rule).
    session_secure: SessionCodec,
    /// The authorization code flow's `authorization` cookie (same secret, its own settings).
    pub authorization_cookies: AuthorizationCookies,
    /// Bearer JWTs whose signature verified in this worker (see `verified_tokens`).
    pub verified_tokens: VerifiedTokens,
    /// The session cookie's name and its chunks' (`session`, `session2` .. `session9`): built
    /// once here, as every session request looks for them.
    pub session_cookie_names: Vec<String>,
    /// The session and authorization cookies and their chunks: what never goes upstream.
    pub filter_cookie_names: Vec<String>,
}

/// What reads only the configuration (the provider's endpoint overrides) takes any holder of it.
impl AsRef<Config> for Settings {
    fn as_ref(&self) -> &Config {
        &self.config
    }
}

/// A configuration the parser accepted but the flows cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingsError {
    pub field: &'static str,
    pub reason: String,
}

impl Settings {
    /// Builds the settings; `session_secret` is the configured secret, or the shared random one
    /// the adapter generated when none is configured.
    pub fn new(config: Config, session_secret: &[u8]) -> Result<Settings, SettingsError> {
        check_client_auth_supported(&config)?;
        let realm = HttpUrl::parse(&config.issuer)
            .map(|u| u.host().to_string())
            .unwrap_or_else(|| config.issuer.clone());
        let session_plain = SessionCodec::new(session_settings(&config, false), session_secret);
        let session_secure = SessionCodec::new(session_settings(&config, true), session_secret);
        let authorization_cookies = AuthorizationCookies::new(&config, session_secret);
        let session_cookie_names = cookies::chunk_names(&config.session_cookie_name);
        let filter_cookie_names = [
            session_cookie_names.as_slice(),
            authorization_cookies.names(),
        ]
        .concat();
        Ok(Settings {
            config,
            realm,
            session_plain,
            session_secure,
            authorization_cookies,
            verified_tokens: VerifiedTokens::default(),
            session_cookie_names,
            filter_cookie_names,
        })
    }

    /// The session codec for a request that came in over `scheme`.
    pub fn session_codec(&self, scheme: &str) -> &SessionCodec {
        let secure = self
            .config
            .session_cookie_secure
            .unwrap_or(scheme.eq_ignore_ascii_case("https"));
        if secure {
            &self.session_secure
        } else {
            &self.session_plain
        }
    }
}

fn session_settings(config: &Config, secure: bool) -> SessionSettings {
    SessionSettings {
        cookie_name: config.session_cookie_name.clone(),
        path: config.session_cookie_path.clone(),
        domain: config.session_cookie_domain.clone(),
        same_site: match config.session_cookie_same_site {
            config::SameSite::Default => SameSite::Default,
            config::SameSite::Lax => SameSite::Lax,
            config::SameSite::None => SameSite::None,
            config::SameSite::Strict => SameSite::Strict,
        },
        http_only: config.session_cookie_http_only,
        secure,
        idling_timeout: config.session_idling_timeout,
        rolling_timeout: config.session_rolling_timeout,
        absolute_timeout: config.session_absolute_timeout,
    }
}

/// The client authentication methods the flows can perform; the others need keys or mTLS
/// certificates this filter does not manage yet.
fn check_client_auth_supported(config: &Config) -> Result<(), SettingsError> {
    let supported = |m: &ClientAuthMethod| {
        matches!(
            m,
            ClientAuthMethod::ClientSecretBasic
                | ClientAuthMethod::ClientSecretPost
                | ClientAuthMethod::None
        )
    };
    let explicit = [
        (
            "token_endpoint_auth_method",
            config.token_endpoint_auth_method.as_ref(),
        ),
        (
            "revocation_endpoint_auth_method",
            config.revocation_endpoint_auth_method.as_ref(),
        ),
        (
            "introspection_endpoint_auth_method",
            config.introspection_endpoint_auth_method.as_ref(),
        ),
    ];
    for (field, method) in explicit {
        if let Some(method) = method.filter(|m| !supported(m)) {
            return Err(SettingsError {
                field,
                reason: format!("{} not supported yet", method.as_str()),
            });
        }
    }
    if let Some(method) = config.client_auth.iter().find(|m| !supported(m)) {
        return Err(SettingsError {
            field: "client_auth",
            reason: format!("{} not supported yet", method.as_str()),
        });
    }
    Ok(())
}
