//! What ranks and explains the candidates: the server's own [`Service`] in this process (the
//! model, or the rules alone with `--skip-llm`), or a server reached through the air-gapped
//! client. Both answer with the same wire types, so the run does not care which.

use std::time::Duration;

use codi_serve::api::{ExplainRequest, ExplainResponse, Health, RankRequest, RankResponse};
use codi_serve::client::{Allowlist, BlockingClient, Client};
use codi_serve::telemetry::Environment;
use codi_serve::{ServeConfig, Service};

use crate::error::Result;
use crate::record::{RankerInfo, RankerKind};

#[derive(Debug)]
pub(crate) enum Ranker {
    InProcess(Box<Service>),
    Endpoint(Box<BlockingClient>),
}

impl Ranker {
    /// `--skip-llm` starts the service with the model disabled (nothing loads); an endpoint
    /// (`--endpoint`, else the configuration's LLM_ENDPOINT) is reached through the client,
    /// whose health is checked first; otherwise the service loads the configured model and
    /// adapter here. Also returns what the ranker says of itself and the environment that
    /// its rankings are recorded with.
    pub(crate) fn start(
        config: &ServeConfig,
        skip_llm: bool,
        endpoint: Option<&str>,
    ) -> Result<(Self, RankerInfo, Environment)> {
        let endpoint = if skip_llm { None } else { endpoint.or(config.endpoint.as_deref()) };
        let threads = config.threads;
        if let Some(url) = endpoint {
            let allowlist = Allowlist::parse(&config.airgap_allowlist.join(","))?;
            let timeout = Duration::from_secs_f64(config.timeout_seconds);
            let client = BlockingClient::new(Client::new(url, &allowlist, timeout)?)?;
            let health = client.health()?;
            let info = info(RankerKind::Endpoint, Some(url.to_owned()), &health);
            let environment = Environment::capture(threads, true, Some(url.to_owned()));
            return Ok((Self::Endpoint(Box::new(client)), info, environment));
        }
        let mut config = config.clone();
        if skip_llm {
            config.enabled = false;
        }
        let service = Service::start(&config)?;
        let kind = if skip_llm { RankerKind::SkipLlm } else { RankerKind::InProcess };
        let info = info(kind, None, &service.health());
        let environment = Environment::capture(threads, config.enabled, None);
        Ok((Self::InProcess(Box::new(service)), info, environment))
    }

    pub(crate) fn rank(&self, request: &RankRequest) -> Result<RankResponse> {
        Ok(match self {
            Self::InProcess(service) => service.rank(request)?,
            Self::Endpoint(client) => client.rank(request)?,
        })
    }

    pub(crate) fn explain(&self, request: &ExplainRequest) -> Result<ExplainResponse> {
        Ok(match self {
            Self::InProcess(service) => service.explain(request)?,
            Self::Endpoint(client) => client.explain(request)?,
        })
    }
}

fn info(kind: RankerKind, endpoint: Option<String>, health: &Health) -> RankerInfo {
    RankerInfo {
        kind,
        endpoint,
        mode: health.mode,
        model_id: health.model_id.clone(),
        adapter_version: health.adapter_version.clone(),
    }
}
