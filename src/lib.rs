//! Portal Accounts: an event-sourced, multi-tenant service for client-portal accounts.
//! This crate is the server: configuration, the private database, the event store, the
//! application services and the HTTP API. The domain lives in the `aggregates` crate.

pub mod app;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod embedded_pg;
pub mod error;
pub mod housekeeping;
pub mod http;
pub mod mail;
pub mod portal_login;
pub mod reads;
pub mod security;
pub mod server;
pub mod store;
pub mod stripes;
pub mod synthetic;
pub mod telemetry;
