//! Fetching the provider's documents: the discovery metadata, then the JWKS it points to. Used
//! by a request that finds no documents yet and by the root context's periodic refresh.

use crate::discovery::{self, ProviderMetadata};
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
    /// The discovery document as received.
    Jwks(Vec<u8>),
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
        Ok((
            ProviderFetch {
                stage: Stage::Metadata,
            },
            request,
        ))
    }

    pub fn on_response(
        self,
        settings: &Settings,
        response: &CallResponse,
        now: u64,
    ) -> FetchProgress {
        match self.stage {
            Stage::Metadata => {
                let body = match ok_body(response, "discovery") {
                    Ok(body) => body,
                    Err(e) => return FetchProgress::Failed(e),
                };
                let metadata = match ProviderMetadata::parse(body) {
                    Ok(metadata) => metadata,
                    Err(e) => {
                        return FetchProgress::Failed(format!("discovery document rejected: {e}"))
                    }
                };
                let Some(jwks_url) =
                    Provider::jwks_endpoint(settings, &metadata).map(str::to_string)
                else {
                    // Nothing to verify tokens with; logout and opaque flows still work.
                    return done(Provider::from_documents(body, None, now));
                };
                match outbound::get(settings, &jwks_url) {
                    Ok(request) => FetchProgress::Next(
                        ProviderFetch {
                            stage: Stage::Jwks(body.to_vec()),
                        },
                        request,
                    ),
                    Err(e) => FetchProgress::Failed(e),
                }
            }
            Stage::Jwks(metadata) => match ok_body(response, "JWKS") {
                Ok(jwks) => done(Provider::from_documents(&metadata, Some(jwks), now)),
                Err(e) => FetchProgress::Failed(e),
            },
        }
    }
}

fn done(provider: Result<Provider, String>) -> FetchProgress {
    match provider {
        Ok(provider) => FetchProgress::Done(provider),
        Err(e) => FetchProgress::Failed(e),
    }
}

/// The body of a 200 answer, else why there is none.
pub fn ok_body<'a>(response: &'a CallResponse, what: &str) -> Result<&'a [u8], String> {
    match response.status {
        Some(200) => Ok(&response.body),
        Some(status) => Err(format!("{what} answered {status}")),
        None => Err(format!(
            "{what} request failed ({})",
            failure_reason(response)
        )),
    }
}
