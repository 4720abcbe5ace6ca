//! Who is calling: the bearer token's key, its role, its limits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use aftersales_domain::{Actor, Role};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::access::KeyInfo;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: KeyInfo,
    quota: QuotaSlot,
}

impl Caller {
    /// Takes what work beyond the request itself costs from the caller's
    /// rate, before the work starts.
    pub fn spend(&self, state: &AppState, cost: Cost) -> Result<(), ApiError> {
        let left = state.inner.limiter.take(&self.key.id, cost);
        self.quota.record(&left);
        left.map(|_| ())
    }

    /// The actor recorded in the metadata of the events the request causes.
    pub fn actor(&self) -> Actor {
        Actor::new(self.key.name.clone(), self.key.role)
    }

    pub fn role(&self) -> Role {
        self.key.role
    }

    /// Refuses the request unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if roles.contains(&self.key.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role may not {what}",
                self.key.role
            )))
        }
    }

    /// Refuses a case of a category the key is not limited to.
    pub fn require_category(&self, category: &str) -> Result<(), ApiError> {
        match &self.key.categories {
            Some(allowed) if !allowed.iter().any(|c| c == category) => {
                Err(ApiError::Forbidden(format!(
                    "this key is limited to the categories {}",
                    allowed.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }
}

impl Caller {
    /// Answers a case of a category the key is not limited to as one that
    /// does not exist: a 403 would tell a limited key which ids are cases.
    pub fn require_case_category(&self, case: uuid::Uuid, category: &str) -> Result<(), ApiError> {
        self.require_category(category)
            .map_err(|_| ApiError::NotFound(format!("no case {case}")))
    }

    /// Whether the caller's role may see any case's personal data (on the
    /// record), rather than only that of the cases assigned to them.
    pub fn sees_personal_data(&self) -> bool {
        matches!(self.key.role, Role::Supervisor | Role::Admin)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Authenticated once per request, by whichever layer asked first.
        if let Some(caller) = parts.extensions.get::<Self>() {
            return Ok(caller.clone());
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthenticated(
                "send an API key as `Authorization: Bearer <token>`",
            ))?;
        // A client address that keeps sending bad tokens is refused before
        // its next token is looked up.
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let token = token.trim();
        // Only an address out of room pays for telling a known token apart.
        if let Some(client) = &client {
            if let Err(limited) = state.inner.auth_failures.has_room(client) {
                if !state.inner.access.known(token) {
                    return Err(limited);
                }
            }
        }
        let Some(key) = state.inner.access.authenticate(token).await? else {
            if let Some(client) = &client {
                state.inner.auth_failures.check(client)?;
            }
            return Err(ApiError::Unauthenticated(
                "the API key is unknown or revoked",
            ));
        };
        let quota = parts
            .extensions
            .get::<QuotaSlot>()
            .cloned()
            .unwrap_or_default();
        let left = state.inner.limiter.take(&key.id, Cost::Request);
        quota.record(&left);
        left?;
        Ok(Self { key, quota })
    }
}

/// What is left of the caller's rate after a request, for the answer's
/// `RateLimit` header: the tokens left, or the refusal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum QuotaLeft {
    Tokens(f64),
    Refused,
}

/// Where the request's key check leaves what remains of its rate, for the
/// layer that answers to read ([`crate::rate_limit_headers`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct QuotaSlot(std::sync::Arc<Mutex<Option<QuotaLeft>>>);

impl QuotaSlot {
    fn record(&self, left: &Result<f64, ApiError>) {
        let left = match left {
            Ok(tokens) => QuotaLeft::Tokens(*tokens),
            Err(_) => QuotaLeft::Refused,
        };
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(left);
    }

    pub(crate) fn left(&self) -> Option<QuotaLeft> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The token of `Bearer <token>`; the scheme's name is case-insensitive
/// (RFC 9110, section 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// Buckets kept before the full ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// What a piece of work takes from its key's bucket: a request takes one
/// token, and work that costs the service far more than a request takes
/// more, so that a key's rate bounds what it makes the service do, not
/// only how often it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// Any request, taken when its key is checked.
    Request,
    /// A report built from the read models, on top of its request.
    Report,
    /// A live event stream opened, on top of its request: it may replay
    /// the log from its start.
    Stream,
    /// A report replayed from the log up to a past position, on top of its
    /// request.
    Replay,
}

impl Cost {
    /// Tokens taken: with the default rate of 200 a second, a key may open
    /// about 10 streams or replay 2 reports a second, if it does nothing else.
    pub const fn tokens(self) -> f64 {
        match self {
            Self::Request => 1.0,
            Self::Report => 5.0,
            Self::Stream => 20.0,
            Self::Replay => 100.0,
        }
    }
}

/// A token bucket per key: `rate` tokens a second on average, `burst` at
/// once. Kept per process; behind a load balancer each process limits alone.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate: rate.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses, without taking a token, a key whose bucket is empty.
    fn has_room(&self, key: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match buckets.get(key) {
            Some((tokens, last))
                if tokens + now.duration_since(*last).as_secs_f64() * self.rate < 1.0 =>
            {
                Err(ApiError::RateLimited { retry_after: 1 })
            }
            _ => Ok(()),
        }
    }

    /// Takes a request's worth of tokens: for the bucket of a client
    /// address, where every attempt is alike.
    pub(crate) fn check(&self, key: &str) -> Result<(), ApiError> {
        self.take(key, Cost::Request).map(|_| ())
    }

    /// The `RateLimit-Policy` and `RateLimit` header values (IETF
    /// draft-ietf-httpapi-ratelimit-headers) of a key's bucket: the quota is
    /// the burst, its window the seconds an empty bucket takes to fill; the
    /// reset is when this bucket will be full again.
    pub(crate) fn headers(&self, left: QuotaLeft) -> (String, String) {
        let tokens = match left {
            QuotaLeft::Tokens(tokens) => tokens.max(0.0),
            QuotaLeft::Refused => 0.0,
        };
        let window = (self.burst / self.rate).ceil() as u64;
        let reset = ((self.burst - tokens) / self.rate).ceil() as u64;
        (
            format!(
                "\"default\";q={};w={}",
                self.burst.floor() as u64,
                window.max(1)
            ),
            format!("\"default\";r={};t={reset}", tokens.floor() as u64),
        )
    }

    /// Takes `cost`'s tokens from `key`'s bucket and says how many are left,
    /// or refuses with the wait until they are there. Work that costs more
    /// than a full bucket holds beside its request takes all of it: it must
    /// stay possible.
    pub(crate) fn take(&self, key: &str, cost: Cost) -> Result<f64, ApiError> {
        let cost = match cost {
            Cost::Request => cost.tokens(),
            // Taken after the request's own token, which it must leave room for.
            _ => cost.tokens().min(self.burst - Cost::Request.tokens()),
        };
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Buckets that have filled up again hold nothing worth keeping: a
        // stream of new keys or addresses cannot grow the map for ever.
        if buckets.len() >= MAX_BUCKETS {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * rate < burst
            });
        }
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= cost {
            *tokens -= cost;
            Ok(*tokens)
        } else {
            let wait = ((cost - *tokens) / self.rate).ceil();
            Err(ApiError::RateLimited {
                // Whole seconds, at least one (the header's unit).
                retry_after: (wait as u64).max(1),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_read_whatever_its_case() {
        for header in ["Bearer as_1", "bearer as_1", "BEARER as_1", "  bEaReR as_1"] {
            assert_eq!(bearer_token(header), Some("as_1"), "{header}");
        }
        assert_eq!(bearer_token("Basic as_1"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
