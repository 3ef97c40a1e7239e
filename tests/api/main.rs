//! The integration tests, as one test binary: each module is one area of the server, run against
//! the real server (in this process, or the real binary as a child process) on SQLite and on
//! PostgreSQL. One binary links once; `helpers` holds what the modules share (spawning servers,
//! the throwaway PostgreSQL, the SMTP sink, the webhook receiver, the proxy, installs).
//!
//! Every test may run in parallel with every other in this process: none relies on process-wide
//! state (see `helpers::alone` for the one that needs a process of its own).

#[macro_use]
mod helpers;

mod agents_and_user;
mod audit;
mod authority;
mod authz_matrix;
mod browser;
mod claims;
mod cli;
mod crash;
mod credit_limits;
mod dashboard;
mod errors;
mod events_crash;
mod faults;
mod flood;
mod idempotency;
mod isolation_and_secrets;
mod keycache;
mod keys;
mod members;
mod metrics;
mod migrate;
mod orchestrator;
mod outbox;
mod packaging;
mod postgres;
mod provisions;
mod provisions_more;
mod ratelimit;
mod replicas;
mod schemathesis;
mod scim;
mod scim_errors;
mod scim_replicas;
mod scim_rfc;
mod sdk;
mod secrets_in_logs;
mod security;
mod wal;
mod web;
mod webhooks;
