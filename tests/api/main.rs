//! The integration tests that can share one process: every feature over the real HTTP
//! listener, a real PostgreSQL and a real SMTP sink. (Tests that need a process of their own
//! — a global log capture, timing, memory, the browser, the binary itself — have their own
//! files beside this folder.)

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod audit_checkpoints;
mod audit_sealing;
mod bad_input;
mod checkpoint_mail;
mod concurrency;
mod connections;
mod cors;
mod database_pool;
mod email_delivery;
mod erasure;
mod group_commit;
mod idempotency;
mod kept_streams;
mod onboarding;
mod operations;
mod passkeys;
mod personal_data;
mod portal_access;
mod portal_invitations;
mod portal_logins;
mod portal_profiles;
mod portal_resets;
mod query_plans;
mod read_models;
mod rebuild;
mod replica;
mod reporting;
mod route_coverage;
mod second_factors;
mod seeds_walk;
mod settings;
mod staff_catalogue;
mod staff_clients;
mod staff_members;
mod staff_portal_users;
mod tenancy_and_roles;
mod webhooks;
