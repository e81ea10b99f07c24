//! What the benches share (and `tests/` borrows for large logs): synthetic event logs and
//! the bench database. Kept out of the server crate: nothing here ships.

// Each bench (and test) uses a part of it.
#![allow(dead_code)]

pub mod synthetic;
