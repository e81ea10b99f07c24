//! Database and process plumbing every layer may use: pool settings and migrations, the
//! coalesced lookups, database health, the replica read pool, request telemetry and the
//! metrics recorder. It knows no feature and imports nothing else of this crate.

pub mod clock;
pub mod coalesce;
pub mod db_health;
pub mod pool;
pub mod read_pool;
pub mod telemetry;
