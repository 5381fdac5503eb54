//! The closed value sets of the configuration, spelled as Kong spells them.

use std::fmt;

/// Defines a Kong value set: an enum whose JSON form is Kong's spelling, with the list of all
/// values (for messages and schemas) and conversions from and to that spelling.
///
/// Variants carry no doc comments on purpose: with them schemars describes the enum as a
/// `oneOf` of constants instead of a plain `enum`, which Kong's draft-4 validator and form
/// coercion handle less well.
macro_rules! kong_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in Kong's schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Kong's spelling of the value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value Kong spells `text` (case-sensitive, as Kong's schema is).
            pub fn from_kong(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

kong_enum! {
    /// A way to authenticate a request (`auth_methods`): a credential type or a grant.
    pub enum AuthMethod {
        AuthorizationCode = "authorization_code",
        Bearer = "bearer",
        ClientCredentials = "client_credentials",
        Introspection = "introspection",
        KongOauth2 = "kong_oauth2",
        Password = "password",
        RefreshToken = "refresh_token",
        Session = "session",
        Userinfo = "userinfo",
    }
}

impl AuthMethod {
    /// Whether this filter implements the method. The one place that says so: configuration
    /// checks and [`Config::enabled`](super::Config::enabled) both ask here.
    pub fn is_supported(self) -> bool {
        !matches!(self, AuthMethod::KongOauth2)
    }

    /// Why listing this method is refused, when it is.
    pub(crate) fn refusal(self) -> Option<&'static str> {
        match self {
            AuthMethod::KongOauth2 => Some(
                "not supported: it validates tokens of Kong's oauth2 plugin, which does not exist outside Kong",
            ),
            m if !m.is_supported() => Some("not supported yet"),
            _ => None,
        }
    }
}

kong_enum! {
    /// How the filter authenticates itself to the identity provider's endpoints.
    pub enum ClientAuthMethod {
        ClientSecretBasic = "client_secret_basic",
        ClientSecretJwt = "client_secret_jwt",
        ClientSecretPost = "client_secret_post",
        None = "none",
        PrivateKeyJwt = "private_key_jwt",
        SelfSignedTlsClientAuth = "self_signed_tls_client_auth",
        TlsClientAuth = "tls_client_auth",
    }
}

kong_enum! {
    /// Where in a request a credential is looked for (`*_param_type`).
    pub enum ParamType {
        Body = "body",
        Cookie = "cookie",
        Header = "header",
        Query = "query",
    }
}

impl ParamType {
    /// The locations Kong allows for username/password and other grant parameters: every
    /// location but cookies, which only bearer tokens may come in.
    pub const GRANT_LOCATIONS: &'static [ParamType] =
        &[ParamType::Body, ParamType::Header, ParamType::Query];
}

kong_enum! {
    /// The `SameSite` attribute of a cookie. `Default` means: send no `SameSite` attribute.
    pub enum SameSite {
        Default = "Default",
        Lax = "Lax",
        None = "None",
        Strict = "Strict",
    }
}

kong_enum! {
    /// How the identity provider returns the authorization response (`response_mode`).
    pub enum ResponseMode {
        FormPost = "form_post",
        FormPostJwt = "form_post.jwt",
        Fragment = "fragment",
        FragmentJwt = "fragment.jwt",
        Jwt = "jwt",
        Query = "query",
        QueryJwt = "query.jwt",
    }
}

impl ResponseMode {
    /// The modes a proxy can receive: the others put the response in the URL fragment (never
    /// sent to a server) or in a signed JWT (JARM), which this filter does not read yet.
    pub fn is_supported(self) -> bool {
        matches!(self, ResponseMode::Query | ResponseMode::FormPost)
    }
}

kong_enum! {
    /// What follows a successful authorization code login (`login_action`).
    pub enum LoginAction {
        Redirect = "redirect",
        Response = "response",
        Upstream = "upstream",
    }
}

kong_enum! {
    /// A token handed to the client after a login (`login_tokens`).
    pub enum LoginToken {
        AccessToken = "access_token",
        IdToken = "id_token",
        Introspection = "introspection",
        RefreshToken = "refresh_token",
        Tokens = "tokens",
    }
}

kong_enum! {
    /// Where `login_action=redirect` puts the login tokens (`login_redirect_mode`).
    pub enum LoginRedirectMode {
        Fragment = "fragment",
        Query = "query",
    }
}

kong_enum! {
    /// What a session check at the identity provider does when the provider cannot answer
    /// (`session_idp_check_failure`, ours): keep serving on the last good confirmation for
    /// `session_idp_check_grace` seconds, or refuse at once.
    pub enum IdpCheckFailure {
        Grace = "grace",
        Refuse = "refuse",
    }
}

kong_enum! {
    /// A request method that can trigger a logout (`logout_methods`).
    pub enum HttpMethod {
        Delete = "DELETE",
        Get = "GET",
        Post = "POST",
    }
}

impl HttpMethod {
    /// Whether a request's method (as sent, any case) is this one.
    pub fn matches(self, method: &str) -> bool {
        method.eq_ignore_ascii_case(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_serde_and_from_kong() {
        for m in AuthMethod::ALL {
            let json = serde_json::to_value(m).unwrap();
            assert_eq!(json, serde_json::Value::String(m.as_str().to_string()));
            assert_eq!(AuthMethod::from_kong(m.as_str()), Some(*m));
        }
        assert_eq!(serde_json::to_value(HttpMethod::Post).unwrap(), "POST");
        assert_eq!(serde_json::to_value(SameSite::Lax).unwrap(), "Lax");
        assert_eq!(
            serde_json::to_value(ClientAuthMethod::SelfSignedTlsClientAuth).unwrap(),
            "self_signed_tls_client_auth"
        );
        assert_eq!(
            SameSite::from_kong("lax"),
            None,
            "Kong's value sets are case-sensitive"
        );
    }

    #[test]
    fn implemented_methods_are_the_supported_ones() {
        let supported: Vec<_> = AuthMethod::ALL
            .iter()
            .filter(|m| m.is_supported())
            .collect();
        assert_eq!(supported.len(), AuthMethod::ALL.len() - 1);
        assert!(!AuthMethod::KongOauth2.is_supported());
        assert!(AuthMethod::KongOauth2
            .refusal()
            .unwrap()
            .contains("oauth2 plugin"));
        assert_eq!(AuthMethod::Bearer.refusal(), None);
        assert_eq!(AuthMethod::Session.refusal(), None);
    }

    #[test]
    fn http_methods_match_any_case() {
        assert!(HttpMethod::Post.matches("post"));
        assert!(!HttpMethod::Post.matches("PUT"));
    }
}
