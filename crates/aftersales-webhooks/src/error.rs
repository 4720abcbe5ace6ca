//! What can go wrong with a subscription or its deliveries.

use aftersales_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A field of the request is unusable; nothing was changed.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The target lies inside the service's own network.
    #[error(
        "{0} is a loopback, private or link-local address; \
         set webhooks.allow_private_targets to allow it"
    )]
    PrivateTarget(String),
    #[error("no webhook subscription {0}")]
    NotFound(uuid::Uuid),
    /// The change does not apply to the subscription as it stands.
    #[error("{0}")]
    Refused(String),
    /// Another change was recorded first; read it and try again.
    #[error("the subscription was changed meanwhile; read it again")]
    Concurrent,
    #[error("a subscription's stream cannot be read: {0}")]
    Undecodable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("webhook tables: {0}")]
    Database(#[from] sqlx::Error),
}

impl WebhookError {
    pub(crate) fn invalid(field: &str, reason: &str) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            reason: reason.to_owned(),
        }
    }
}
