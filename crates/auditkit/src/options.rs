//! Settings both clients take: HTTP client, token cache, retries, timeouts, pacing, time.

use std::sync::Arc;

use auditkit_identity::TokenCache;
use auditkit_runtime::{
    Clock, Credential, Error, PipelineBuilder, RateLimit, RetryBudget, RetryPolicy, Sleeper,
    SystemClock, Timeouts,
};
use reqwest::Url;

#[derive(Default)]
pub(crate) struct Common {
    pub(crate) http: Option<auditkit_runtime::HttpClient>,
    pub(crate) token_cache: Option<TokenCache>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) timeouts: Option<Timeouts>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) time: Option<(Arc<dyn Clock>, Arc<dyn Sleeper>)>,
    pub(crate) max_response_bytes: Option<usize>,
}

impl Common {
    /// The HTTP client, and that the API's base URL passes its transport rule (https, or
    /// plain http to loopback unless the client allows more).
    pub(crate) fn http(&self, base_url: &Url) -> Result<auditkit_runtime::HttpClient, Error> {
        let http = match &self.http {
            Some(http) => http.clone(),
            None => auditkit_runtime::HttpClient::new()?,
        };
        http.check(base_url).map_err(Error::Refused)?;
        Ok(http)
    }

    /// The token cache: the caller's, or a new one on the same clock as the retries.
    pub(crate) fn token_cache(&self) -> TokenCache {
        match (&self.token_cache, &self.time) {
            (Some(cache), _) => cache.clone(),
            (None, Some((clock, _))) => TokenCache::with_clock(clock.clone()),
            (None, None) => TokenCache::with_clock(Arc::new(SystemClock)),
        }
    }

    pub(crate) fn pipeline(
        &self,
        base_url: &Url,
        credential: Arc<dyn Credential>,
    ) -> PipelineBuilder {
        let mut builder = PipelineBuilder::default().credential(base_url.clone(), credential);
        if let Some(retry) = &self.retry {
            builder = builder.retry(retry.clone());
        }
        if let Some(budget) = &self.budget {
            builder = builder.retry_budget(budget.clone());
        }
        if let Some(timeouts) = self.timeouts {
            builder = builder.timeouts(timeouts);
        }
        if let Some(limit) = &self.rate_limit {
            builder = builder.rate_limit(limit.clone());
        }
        if let Some((clock, sleeper)) = &self.time {
            builder = builder.time(clock.clone(), sleeper.clone());
        }
        if let Some(limit) = self.max_response_bytes {
            builder = builder.max_response_bytes(limit);
        }
        builder
    }
}

/// The setters of [`Common`], the same on both client builders.
macro_rules! common_setters {
    () => {
        /// Your own HTTP client (proxy, custom root certificates): start from
        /// [`crate::http_client_builder`] and make it an [`crate::HttpClient`]. It is used for
        /// the API and, unless the credential has its own, for token requests.
        pub fn http_client(mut self, http: $crate::HttpClient) -> Self {
            self.common.http = Some(http);
            self
        }

        /// Shares tokens with other clients built with the same cache.
        pub fn token_cache(mut self, cache: $crate::TokenCache) -> Self {
            self.common.token_cache = Some(cache);
            self
        }

        /// Retries of every call; on by default (see [`auditkit_runtime::RetryPolicy`]).
        pub fn retry(mut self, policy: $crate::RetryPolicy) -> Self {
            self.common.retry = Some(policy);
            self
        }

        /// The retry budget; pass one to several clients to bound their retries together.
        pub fn retry_budget(mut self, budget: $crate::RetryBudget) -> Self {
            self.common.budget = Some(budget);
            self
        }

        /// Per-attempt and whole-operation timeouts (connect: on the HTTP client).
        pub fn timeouts(mut self, timeouts: $crate::Timeouts) -> Self {
            self.common.timeouts = Some(timeouts);
            self
        }

        /// Paces calls client-side, e.g. [`auditkit_runtime::RateLimit::intune_writes`].
        pub fn rate_limit(mut self, limit: $crate::RateLimit) -> Self {
            self.common.rate_limit = Some(limit);
            self
        }

        /// The largest answer body read (32 MiB by default); a bigger one is cut off with
        /// `Error::ResponseTooLarge` instead of filling memory.
        pub fn max_response_bytes(mut self, limit: usize) -> Self {
            self.common.max_response_bytes = Some(limit);
            self
        }

        /// Where retries and token expiry read the time and how retries wait. Tests pass a
        /// `ManualClock` for both and read the waits back from it instead of sleeping.
        pub fn time(
            mut self,
            clock: std::sync::Arc<dyn $crate::Clock>,
            sleeper: std::sync::Arc<dyn $crate::Sleeper>,
        ) -> Self {
            self.common.time = Some((clock, sleeper));
            self
        }
    };
}

pub(crate) use common_setters;
