//! Where in a request the credential it authenticated with was found, so that
//! `hide_credentials` removes exactly that credential before the request goes upstream (Kong
//! clears the header, query argument, body argument or cookie the method read, nothing else).

/// The places one credential came from. Names are as the client sent them (headers
/// lower-case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsedCredential {
    /// Request headers to remove.
    pub headers: Vec<String>,
    /// Query arguments to remove.
    pub query_args: Vec<String>,
    /// Form or JSON body arguments to remove.
    pub body_args: Vec<String>,
    /// A cookie to remove.
    pub cookie: Option<String>,
}

impl UsedCredential {
    pub fn headers(names: &[&str]) -> UsedCredential {
        UsedCredential {
            headers: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            ..Default::default()
        }
    }

    pub fn query_args(names: &[&str]) -> UsedCredential {
        UsedCredential {
            query_args: names.iter().map(|n| n.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn body_args(names: &[&str]) -> UsedCredential {
        UsedCredential {
            body_args: names.iter().map(|n| n.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn cookie(name: &str) -> UsedCredential {
        UsedCredential {
            cookie: Some(name.to_string()),
            ..Default::default()
        }
    }
}
