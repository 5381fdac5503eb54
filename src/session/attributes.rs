//! Set-Cookie attributes in the library's order: Domain, Path, SameSite, Secure, HttpOnly
//! (Priority, SameParty and Partitioned, which Kong does not configure, are not written).

use super::settings::{SameSite, SessionSettings};

/// What the library appends to an emptied cookie to make the browser drop it.
pub const EXPIRE_ATTRIBUTES: &str = "; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0";

/// The attribute suffix shared by every cookie the codec writes, e.g.
/// `; Path=/; SameSite=Lax; HttpOnly`.
pub fn cookie_attributes(settings: &SessionSettings) -> String {
    let mut out = String::new();
    // The library leaves Domain out for "localhost" too: browsers refuse it there.
    if let Some(domain) = settings
        .domain
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "localhost")
    {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; Path=");
    out.push_str(&settings.path);
    let same_site = match settings.same_site {
        SameSite::Default => None,
        SameSite::Lax => Some("Lax"),
        SameSite::None => Some("None"),
        SameSite::Strict => Some("Strict"),
    };
    if let Some(same_site) = same_site {
        out.push_str("; SameSite=");
        out.push_str(same_site);
    }
    // Browsers reject SameSite=None without Secure, so the library forces it.
    if settings.secure || settings.same_site == SameSite::None {
        out.push_str("; Secure");
    }
    if settings.http_only {
        out.push_str("; HttpOnly");
    }
    out
}

pub fn set_cookie(name: &str, value: &str, attributes: &str) -> String {
    format!("{name}={value}{attributes}")
}

pub fn expire_cookie(name: &str, attributes: &str) -> String {
    format!("{name}={attributes}{EXPIRE_ATTRIBUTES}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_defaults() {
        assert_eq!(
            cookie_attributes(&SessionSettings::default()),
            "; Path=/; SameSite=Lax; HttpOnly"
        );
    }

    #[test]
    fn full_order() {
        let settings = SessionSettings {
            domain: Some("example.com".into()),
            path: "/app".into(),
            same_site: SameSite::Strict,
            secure: true,
            ..SessionSettings::default()
        };
        assert_eq!(
            cookie_attributes(&settings),
            "; Domain=example.com; Path=/app; SameSite=Strict; Secure; HttpOnly"
        );
    }

    #[test]
    fn none_forces_secure_default_omits_same_site() {
        let none = SessionSettings {
            same_site: SameSite::None,
            http_only: false,
            ..SessionSettings::default()
        };
        assert_eq!(cookie_attributes(&none), "; Path=/; SameSite=None; Secure");
        let default = SessionSettings {
            same_site: SameSite::Default,
            domain: Some("localhost".into()),
            ..SessionSettings::default()
        };
        assert_eq!(cookie_attributes(&default), "; Path=/; HttpOnly");
    }

    #[test]
    fn expiry_follows_the_attributes() {
        assert_eq!(
            expire_cookie("session", "; Path=/; SameSite=Lax; HttpOnly"),
            "session=; Path=/; SameSite=Lax; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"
        );
    }
}
