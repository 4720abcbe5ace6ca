//! Webhooks: the log's events pushed to the systems an after-sales team
//! connects (the shop's order system, a courier's claim desk, a notifier,
//! a data warehouse), signed by the Standard Webhooks scheme.
//!
//! This crate owns the subscriptions (recorded as events of `webhook-<id>`
//! streams, [`Subscriptions`]), their signing secrets and delivery log (in
//! the log's database, [`WebhookDb`]), the guard against requests into the
//! service's own network ([`target`]), and the [`Dispatcher`] that sends
//! each subscription its events in order, at least once, from a durable
//! checkpoint. The outbox is the log itself: nothing is lost between an
//! event being recorded and it being sent.

mod db;
mod dispatch;
mod error;
mod settings;
mod signing;
mod subscriptions;
pub mod target;

pub use db::{Delivery, WebhookDb};
pub use dispatch::{message_body, message_id, Dispatcher};
pub use error::WebhookError;
pub use settings::Settings;
pub use signing::{signature_header, Secret};
pub use subscriptions::{Change, Created, NewSubscription, Recorded, Subscriptions, DELIVERED};
