//! Running the service: configuration, the database (private cluster or `DATABASE_URL`),
//! the operator CLI, the server with its background tasks, logging and metrics.

pub mod cli;
pub mod config;
pub mod db;
pub mod embedded_pg;
pub mod housekeeping;
pub mod logging;
pub mod reporting;
pub mod retention;
pub mod server;
