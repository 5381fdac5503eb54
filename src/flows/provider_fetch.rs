//! Fetching the provider's documents: the discovery metadata, RFC 8414 metadata when discovery
//! lacks an endpoint a setting needs, then the JWKS. Used by a request that finds no documents
//! yet and by the root context's periodic refresh.

mod endpoint_gaps;

pub use endpoint_gaps::{announce, prepare, unmet, wanted, Announcement};

use crate::discovery::{self, DiscoveryError, EndpointGaps, OptionalEndpoint, ProviderMetadata};
use crate::flows::outbound::{self, CallError};
use crate::flows::provider::{DocumentError, Provider};
use crate::flows::settings::Settings;
use crate::step::{CallResponse, OutboundRequest};

/// Why a fetch (or one of its optional steps) gave no documents.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Call(#[from] CallError),
    /// `what` is the document asked for (`discovery`, `JWKS`; `it` for RFC 8414 metadata).
    #[error("{what} answered {status}")]
    Status { what: &'static str, status: u16 },
    #[error("{what} request failed ({reason})")]
    NoAnswer { what: &'static str, reason: String },
    #[error(transparent)]
    Documents(#[from] DocumentError),
    #[error("not asked (no RFC 8414 URL for issuer {0:?})")]
    NoOAuthMetadataUrl(String),
    #[error("not asked (discovery is the RFC 8414 document)")]
    OAuthMetadataIsDiscovery,
    /// The RFC 8414 document gave no endpoints to merge into discovery's.
    #[error(transparent)]
    OAuthMetadataRejected(DiscoveryError),
    /// Keys were refetched for a request that holds no documents to add them to.
    #[error("no provider documents")]
    NoProvider,
}

/// A fetch in progress.
#[derive(Debug)]
pub struct ProviderFetch {
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    Metadata,
    /// The discovery document as received; RFC 8414 metadata may supply `wanted`.
    OAuthMetadata {
        discovery: Vec<u8>,
        wanted: Vec<OptionalEndpoint>,
    },
    /// The discovery document (merged with RFC 8414's endpoints, if any) and what it lacks.
    Jwks(Vec<u8>, EndpointGaps),
}

/// Where a fetch stands after an answer.
// `Done` holds the whole provider and is moved once, at the end of a fetch (a few times per
// provider refresh): boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FetchProgress {
    /// Send this request and feed its answer back.
    Next(ProviderFetch, OutboundRequest),
    Done(Provider),
    Failed(FetchError),
}

impl ProviderFetch {
    /// The discovery request.
    pub fn start(settings: &Settings) -> Result<(ProviderFetch, OutboundRequest), CallError> {
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
                    Err(e) => return FetchProgress::Failed(DocumentError::Metadata(e).into()),
                };
                let wanted = endpoint_gaps::wanted(settings, &metadata);
                if wanted.is_empty() {
                    return jwks_next(settings, body.to_vec(), EndpointGaps::default(), now);
                }
                match oauth_metadata_request(settings, &metadata.issuer) {
                    Ok(request) => FetchProgress::Next(
                        ProviderFetch {
                            stage: Stage::OAuthMetadata {
                                discovery: body.to_vec(),
                                wanted,
                            },
                        },
                        request,
                    ),
                    Err(why) => {
                        let gaps = EndpointGaps {
                            missing: endpoint_gaps::unmet(settings, &metadata),
                            oauth_metadata: Some(why.to_string()),
                        };
                        jwks_next(settings, body.to_vec(), gaps, now)
                    }
                }
            }
            Stage::OAuthMetadata { discovery, wanted } => {
                // Whatever this answer is, discovery goes on: the endpoints are optional.
                let merged = ok_body(response, "it")
                    .and_then(|oauth| {
                        discovery::merge_endpoints(&discovery, oauth, &wanted)
                            .map_err(FetchError::OAuthMetadataRejected)
                    })
                    .map(|(merged, _gained)| merged);
                let (document, outcome) = match merged {
                    Ok(merged) => (merged, "it has none".to_string()),
                    Err(why) => (discovery, why.to_string()),
                };
                // Discovery parsed before, and merging only adds strings: this parse succeeds.
                let missing = ProviderMetadata::parse(&document)
                    .map(|metadata| endpoint_gaps::unmet(settings, &metadata))
                    .unwrap_or_default();
                let gaps = EndpointGaps {
                    missing,
                    oauth_metadata: Some(outcome),
                };
                jwks_next(settings, document, gaps, now)
            }
            Stage::Jwks(metadata, gaps) => match ok_body(response, "JWKS") {
                Ok(jwks) => done(Provider::from_documents(&metadata, Some(jwks), now), gaps),
                Err(e) => FetchProgress::Failed(e),
            },
        }
    }
}

/// The RFC 8414 request for `issuer` (the discovered one: RFC 8414 forms the URL from the
/// issuer, and the configured one may be a discovery URL). Not when that URL is the one
/// discovery already came from (an issuer configured as its RFC 8414 URL).
fn oauth_metadata_request(
    settings: &Settings,
    issuer: &str,
) -> Result<OutboundRequest, FetchError> {
    let url = discovery::oauth_metadata_url(issuer)
        .ok_or_else(|| FetchError::NoOAuthMetadataUrl(issuer.to_string()))?;
    if url == discovery::discovery_url(&settings.config.issuer) {
        return Err(FetchError::OAuthMetadataIsDiscovery);
    }
    Ok(outbound::get(settings, &url)?)
}

/// The JWKS request for a usable discovery document, or the provider at once when there are
/// no keys to fetch.
fn jwks_next(
    settings: &Settings,
    document: Vec<u8>,
    gaps: EndpointGaps,
    now: u64,
) -> FetchProgress {
    let jwks_url = ProviderMetadata::parse(&document)
        .ok()
        .and_then(|metadata| Provider::jwks_endpoint(settings, &metadata).map(str::to_string));
    let Some(jwks_url) = jwks_url else {
        // Nothing to verify tokens with; logout and opaque flows still work.
        return done(Provider::from_documents(&document, None, now), gaps);
    };
    match outbound::get(settings, &jwks_url) {
        Ok(request) => FetchProgress::Next(
            ProviderFetch {
                stage: Stage::Jwks(document, gaps),
            },
            request,
        ),
        Err(e) => FetchProgress::Failed(e.into()),
    }
}

fn done(provider: Result<Provider, DocumentError>, gaps: EndpointGaps) -> FetchProgress {
    match provider {
        Ok(mut provider) => {
            provider.endpoint_gaps = Some(gaps);
            FetchProgress::Done(provider)
        }
        Err(e) => FetchProgress::Failed(e.into()),
    }
}

/// The body of a 200 answer, else why there is none.
pub fn ok_body<'a>(response: &'a CallResponse, what: &'static str) -> Result<&'a [u8], FetchError> {
    match response.status {
        Some(200) => Ok(&response.body),
        Some(status) => Err(FetchError::Status { what, status }),
        None => Err(FetchError::NoAnswer {
            what,
            reason: response.failure_reason(),
        }),
    }
}

#[cfg(test)]
mod tests;
