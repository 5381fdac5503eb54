//! The cookie and timeout settings a codec works with (Kong's `session_*` config fields).

/// The cookie's SameSite attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Omit the attribute (the browser's default applies).
    Default,
    #[default]
    Lax,
    /// Cross-site allowed; forces `Secure`, as the library does.
    None,
    Strict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub path: String,
    /// Left out when `None`, empty or `localhost`.
    pub domain: Option<String>,
    pub same_site: SameSite,
    pub http_only: bool,
    pub secure: bool,
    /// Seconds since the last save or touch; 0 disables.
    pub idling_timeout: u64,
    /// Seconds since the last save; 0 disables.
    pub rolling_timeout: u64,
    /// Seconds since creation; 0 disables.
    pub absolute_timeout: u64,
}

impl Default for SessionSettings {
    /// Kong's and the library's defaults (`Secure` off: Kong turns it on for https requests).
    fn default() -> Self {
        SessionSettings {
            cookie_name: "session".to_string(),
            path: "/".to_string(),
            domain: None,
            same_site: SameSite::Lax,
            http_only: true,
            secure: false,
            idling_timeout: 900,
            rolling_timeout: 3600,
            absolute_timeout: 86400,
        }
    }
}
