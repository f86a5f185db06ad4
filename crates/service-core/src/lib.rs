//! What both subgraphs share: database connection and migrations, HTTP plumbing (health,
//! readiness, metrics, graceful shutdown), telemetry, and the test harness for both databases.

pub mod db;
pub mod http;
pub mod telemetry;
pub mod testing;
