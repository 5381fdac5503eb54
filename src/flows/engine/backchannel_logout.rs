//! The request flow of the back-channel logout endpoint (the logic is in `flows::backchannel`):
//! the provider's POST is answered here, with one JWKS refetch when the logout token names a
//! key the JWKS lacks, as for ID tokens.

use crate::flows::backchannel::{self, Received};
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::{outbound, Env, Event, Note, RequestFlow};
use crate::step::{CallResponse, Step};

use super::Waiting;

impl RequestFlow {
    pub(super) fn backchannel_logout(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        may_refetch_keys: bool,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        let received =
            backchannel::receive(settings, &provider, &self.request, env.shared, env.now);
        match received {
            Received::Ended(claims) => {
                let response = backchannel::accepted(&claims);
                self.notes.push(Note::Info(response.reason.clone()));
                self.events.push(Event::Logout);
                Step::Respond(response)
            }
            Received::UnknownKey(why)
                if may_refetch_keys && env.shared.claim_jwks_refetch(env.now) =>
            {
                let url = Provider::jwks_endpoint(settings, &provider.metadata).map(str::to_string);
                match url.map(|u| outbound::get(settings, &u)) {
                    Some(Ok(request)) => {
                        self.notes.push(Note::Info(format!(
                            "back-channel logout: {why}: refetching the JWKS"
                        )));
                        self.call(request, Waiting::BackchannelJwksRefetch)
                    }
                    _ => self.refuse_backchannel(&why),
                }
            }
            Received::UnknownKey(why) | Received::Refused(why) => self.refuse_backchannel(&why),
        }
    }

    /// After the JWKS refetch: take the new keys and decide without another refetch.
    pub(super) fn on_backchannel_jwks_refetch(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
    ) -> Step {
        self.adopt_refetched_jwks(&response, env.now);
        self.backchannel_logout(settings, env, false)
    }

    fn refuse_backchannel(&mut self, why: &str) -> Step {
        let response = backchannel::refused(why);
        self.notes.push(Note::Warn(response.reason.clone()));
        self.events.push(Event::Rejected("backchannel_logout"));
        Step::Respond(response)
    }
}
