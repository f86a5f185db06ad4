//! What both subgraphs share: database connection and migrations, HTTP plumbing (health,
//! readiness, metrics, graceful shutdown), telemetry, and the test harness for both databases.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod outbox;
pub mod outgoing;
pub mod paypal;
pub mod query_limits;
pub mod registry;
pub mod scalars;
pub mod stripe;
pub mod subgraph;
pub mod telemetry;
pub mod webhook;
