//! How the gateway plays a real proxy-wasm host where the real hosts legitimately differ.
//!
//! `host_profile: envoy` (the default) behaves as Envoy's proxy-wasm host does; `kong` as Kong's
//! Wasm engine (ngx_wasm_module) does. Each behaviour can also be switched on its own under
//! `host_behaviour:`, which overrides the profile. Tests use these to run a filter against
//! either host's behaviour, so a filter cannot come to depend on one of them by accident.

use serde::Deserialize;

/// What `proxy_set_shared_data` does with a CAS of 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CasZero {
    /// Envoy: write whatever is there.
    NoCheck,
    /// Kong: write only when the key does not exist yet (else CAS_MISMATCH).
    IfAbsent,
}

/// What the `:authority` pseudo-header of a request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Authority {
    /// Envoy: the client's Host header.
    Host,
    /// Kong: the server name (here `server_name`) and the listener's port.
    ServerName,
}

/// Which values of a repeated header (several `Set-Cookie`) of a local response reach the
/// client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LocalResponseHeaders {
    /// Envoy: every one.
    All,
    /// Kong: only the last of each name (nginx sets each local-response header in replace
    /// mode).
    Last,
}

/// What the host does when a filter starts an HTTP call from a stream whose previous call has
/// just answered, or from the root context's `on_http_call_response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChainedDispatch {
    /// Envoy: works.
    Allow,
    /// Kong: breaks (a worker spins or crashes). The gateway fails loudly instead: the call is
    /// refused (INTERNAL_FAILURE), the request fails with 500 and an error line says why.
    Fail,
}

/// The behaviours, resolved from the profile and the overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostBehaviour {
    /// Envoy's `allow_on_headers_stop_iteration` (Envoy 1.35+, default false): a Pause from the
    /// headers callbacks stops only the headers, and the filter still gets the body callbacks.
    /// When false (Envoy's default, and Kong), a headers Pause holds the body and trailers too:
    /// they reach the filter only after it resumes (`StopAllIterationAndWatermark`).
    pub(crate) allow_on_headers_stop_iteration: bool,
    pub(crate) cas_zero: CasZero,
    pub(crate) authority: Authority,
    pub(crate) local_response_headers: LocalResponseHeaders,
    /// Kong ignores the removal of the `Cookie` request header (replacing it works).
    pub(crate) cookie_removal_ignored: bool,
    pub(crate) chained_dispatch: ChainedDispatch,
    /// The server name Kong's `:authority` is built from (`authority: server_name`).
    pub(crate) server_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HostProfile {
    #[default]
    Envoy,
    Kong,
}

/// `host_behaviour:` in the config file: every field optional, overriding the profile.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHostBehaviour {
    pub(crate) allow_on_headers_stop_iteration: Option<bool>,
    pub(crate) cas_zero: Option<CasZero>,
    pub(crate) authority: Option<Authority>,
    pub(crate) local_response_headers: Option<LocalResponseHeaders>,
    pub(crate) remove_cookie_header: Option<RemoveCookie>,
    pub(crate) chained_dispatch: Option<ChainedDispatch>,
    pub(crate) server_name: Option<String>,
}

/// What removing the `Cookie` request header does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RemoveCookie {
    /// Envoy: the header is removed.
    Removes,
    /// Kong: nothing happens (the hostcall answers OK).
    Ignored,
}

impl HostBehaviour {
    pub(crate) fn of(profile: HostProfile) -> HostBehaviour {
        match profile {
            HostProfile::Envoy => HostBehaviour {
                allow_on_headers_stop_iteration: false,
                cas_zero: CasZero::NoCheck,
                authority: Authority::Host,
                local_response_headers: LocalResponseHeaders::All,
                cookie_removal_ignored: false,
                chained_dispatch: ChainedDispatch::Allow,
                server_name: "localhost".to_string(),
            },
            HostProfile::Kong => HostBehaviour {
                allow_on_headers_stop_iteration: false,
                cas_zero: CasZero::IfAbsent,
                authority: Authority::ServerName,
                local_response_headers: LocalResponseHeaders::Last,
                cookie_removal_ignored: true,
                chained_dispatch: ChainedDispatch::Fail,
                server_name: "localhost".to_string(),
            },
        }
    }

    pub(crate) fn resolve(profile: HostProfile, raw: RawHostBehaviour) -> HostBehaviour {
        let mut behaviour = HostBehaviour::of(profile);
        if let Some(allow) = raw.allow_on_headers_stop_iteration {
            behaviour.allow_on_headers_stop_iteration = allow;
        }
        if let Some(cas) = raw.cas_zero {
            behaviour.cas_zero = cas;
        }
        if let Some(authority) = raw.authority {
            behaviour.authority = authority;
        }
        if let Some(cookies) = raw.local_response_headers {
            behaviour.local_response_headers = cookies;
        }
        if let Some(remove) = raw.remove_cookie_header {
            behaviour.cookie_removal_ignored = remove == RemoveCookie::Ignored;
        }
        if let Some(dispatch) = raw.chained_dispatch {
            behaviour.chained_dispatch = dispatch;
        }
        if let Some(name) = raw.server_name {
            behaviour.server_name = name;
        }
        behaviour
    }
}

impl Default for HostBehaviour {
    fn default() -> Self {
        HostBehaviour::of(HostProfile::Envoy)
    }
}
