//! Fetching the provider's documents: the discovery metadata, then the JWKS it points to. Used
//! by a request that finds no documents yet and by the root context's periodic refresh.

use crate::discovery::{self, Jwks, ProviderMetadata};
use crate::flows::outbound;
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::tokens::failure_reason;
use crate::step::{CallResponse, OutboundRequest};

/// A fetch in progress.
#[derive(Debug)]
pub struct ProviderFetch {
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    Metadata,
    Jwks(Box<ProviderMetadata>),
}

/// Where a fetch stands after an answer.
#[derive(Debug)]
pub enum FetchProgress {
    /// Send this request and feed its answer back.
    Next(ProviderFetch, OutboundRequest),
    Done(Provider),
    Failed(String),
}

impl ProviderFetch {
    /// The discovery request.
    pub fn start(settings: &Settings) -> Result<(ProviderFetch, OutboundRequest), String> {
        let url = discovery::discovery_url(&settings.config.issuer);
        let request = outbound::get(settings, &url)?;
        Ok((ProviderFetch { stage: Stage::Metadata }, request))
    }

    pub fn on_response(self, settings: &Settings, response: &CallResponse, now: u64) -> FetchProgress {
        match self.stage {
            Stage::Metadata => {
                let metadata = match ok_body(response, "discovery").and_then(|body| {
                    ProviderMetadata::parse(body).map_err(|e| format!("discovery document rejected: {e}"))
                }) {
                    Ok(metadata) => metadata,
                    Err(e) => return FetchProgress::Failed(e),
                };
                let Some(jwks_url) = Provider::jwks_endpoint(settings, &metadata).map(str::to_string) else {
                    // Nothing to verify tokens with; logout and opaque flows still work.
                    return FetchProgress::Done(Provider { metadata, jwks: Jwks::default(), fetched_at: now });
                };
                match outbound::get(settings, &jwks_url) {
                    Ok(request) => FetchProgress::Next(ProviderFetch { stage: Stage::Jwks(Box::new(metadata)) }, request),
                    Err(e) => FetchProgress::Failed(e),
                }
            }
            Stage::Jwks(metadata) => match parse_jwks(response) {
                Ok(jwks) => FetchProgress::Done(Provider { metadata: *metadata, jwks, fetched_at: now }),
                Err(e) => FetchProgress::Failed(e),
            },
        }
    }
}

/// Reads a JWKS answer.
pub fn parse_jwks(response: &CallResponse) -> Result<Jwks, String> {
    let body = ok_body(response, "JWKS")?;
    Jwks::parse(body).map_err(|e| format!("JWKS rejected: {e}"))
}

fn ok_body<'a>(response: &'a CallResponse, what: &str) -> Result<&'a [u8], String> {
    match response.status {
        Some(200) => Ok(&response.body),
        Some(status) => Err(format!("{what} answered {status}")),
        None => Err(format!("{what} request failed ({})", failure_reason(response))),
    }
}
