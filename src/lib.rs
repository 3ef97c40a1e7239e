//! provisiond: provisions users, projects and API keys for AI-agent platforms.
//! `main.rs` is only the command line; everything else lives here so tests drive the real server.

pub mod app;
pub mod auth;
pub mod cleanup;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod keycache;
pub mod keys;
pub mod mail;
pub mod openapi;
pub mod ops;
pub mod passwords;
pub mod ratelimit;
pub mod routes;
pub mod store;
pub mod web;
