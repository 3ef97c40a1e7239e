//! All SQL lives here: plain functions on `&Connection` / `&Transaction`, one file per table
//! family. Multi-row writes take a `&Transaction` so the caller decides what commits together.

pub mod credits;
pub mod email_tokens;
pub mod keys;
pub mod orgs;
pub mod projects;
pub mod provisions;
pub mod sessions;
