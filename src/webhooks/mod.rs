//! Outbound webhooks: subscriptions (`/webhooks`, a resource like notes), the event types
//! they ask for (`events`), their signing secrets (`secret`) and the private-network guard
//! on their URLs (`ssrf`).

pub mod api;
pub mod bodies;
pub mod entity;
pub mod events;
pub mod secret;
pub mod ssrf;
pub mod store;

pub use api::WebhooksApi;
