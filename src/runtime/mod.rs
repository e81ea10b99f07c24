//! Running the service: configuration, the database (private cluster or `DATABASE_URL`),
//! the operator CLI, the server with its background tasks, logging and metrics.

pub mod cli;
pub mod coalesce;
pub mod config;
pub mod db;
pub mod db_health;
pub mod embedded_pg;
pub mod housekeeping;
pub mod read_pool;
pub mod reporting;
pub mod server;
pub mod telemetry;
pub mod writeback;
