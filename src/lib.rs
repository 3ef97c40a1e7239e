//! provisiond: provisions users, projects and API keys for AI-agent platforms.
//!
//! Layers, one direction: the edges (`routes` JSON API, `web` pages, `cli` commands, `jobs`)
//! parse input, call one `service` function and render its result; `service` holds every rule
//! and is the only caller of `store`, which holds all SQL over the engine-neutral connections of
//! `db`. `domain` types parse their values; `error` maps what went wrong to the API's answer.
//! `app` starts it all; `main.rs` is only the command line.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod keycache;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod ratelimit;
pub mod routes;
pub mod scim;
pub mod secrets;
pub mod serverkey;
pub mod service;
pub mod store;
pub mod web;
