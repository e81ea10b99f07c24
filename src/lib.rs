//! Portal Accounts: an event-sourced, multi-tenant service for client-portal accounts.
//! This crate is the server, in layers (docs/architecture.md): `http` (the edge) calls
//! `services` (commands), `reads`, `portal` (logins and sessions), `audit` and `mail`, which
//! use `store` (the write side) and the `eventlog` crate (every read of the log); `auth`
//! is where a request becomes a tenant scope; `runtime` wires it all and runs it.

pub mod app;
pub mod audit;
pub mod auth;
pub mod errors;
pub mod http;
pub mod infra;
mod layer_rule;
pub mod mail;
pub mod portal;
pub mod reads;
pub mod runtime;
pub mod sealing;
pub mod security;
pub mod services;
pub mod store;
pub mod webhooks;
