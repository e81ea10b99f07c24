//! The errors the layers return, kept below them all so any layer may return or wrap them:
//! `ServiceError` (commands, portal, authentication) and `ReadError` (reads, audit). Only
//! `http::error` turns them into statuses and problem+json.

pub mod read;
pub mod service;
