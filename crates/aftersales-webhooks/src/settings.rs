//! How the dispatcher behaves, set once at start-up (`[webhooks]` in the
//! configuration) and passed down.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Allow targets on loopback, private and link-local addresses (for a
    /// receiver inside the shop's own network, and for tests).
    pub allow_private_targets: bool,
    /// Longest a receiver may take to answer one message.
    pub timeout: Duration,
    /// How long a failing message is retried before the subscription is
    /// disabled.
    pub retry_for: Duration,
    /// The wait after a message's first failed attempt; it doubles with
    /// each further one …
    pub first_backoff: Duration,
    /// … up to this.
    pub max_backoff: Duration,
    /// How long the delivery log keeps an attempt.
    pub keep_deliveries: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout: Duration::from_secs(10),
            retry_for: Duration::from_secs(24 * 3600),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            keep_deliveries: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
