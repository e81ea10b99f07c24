//! Database and process plumbing every layer may use: pool settings and migrations, the
//! coalesced lookups, database health, the replica read pool, request telemetry, the
//! metrics recorder, a worker's presence, and requests to addresses a firm gave us. It knows no feature and imports nothing else of this crate.

pub mod clock;
pub mod coalesce;
pub mod db_health;
pub mod outbound;
pub mod pool;
pub mod presence;
pub mod read_pool;
pub mod telemetry;
pub mod wakeups;
