//! Outbound webhooks: subscriptions (`/webhooks`, a resource like notes), the event types
//! they ask for (`events`), their signing secrets (`secret`) and the private-network guard
//! on their URLs (`ssrf`); the deliveries of events to them (`deliveries`, one row each with
//! its outcome, and a job that sends it).

pub mod api;
pub mod bodies;
pub mod deliveries;
pub mod delivery;
pub mod delivery_entity;
pub mod entity;
pub mod events;
pub mod metrics;
pub mod secret;
pub mod ssrf;
pub mod store;

pub use api::WebhooksApi;
