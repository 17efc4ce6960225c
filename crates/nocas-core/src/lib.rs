//! The Nocas domain, free of I/O.
//!
//! This crate owns what a registry and configuration center *is*: validated
//! names ([`names`]), namespaces, services and instances ([`naming`]),
//! configuration items with beta/tag variants and their history ([`config`]),
//! the durable state machine that applies [`command::Command`]s
//! ([`state::DurableState`]), and the in-memory registry of ephemeral
//! instances owned by live clients ([`naming::soft::SoftRegistry`]).
//!
//! Architecture invariant: nothing here does I/O, spawns tasks or reads a
//! clock. Time comes in as a parameter (`now_ms`), so the same input always
//! gives the same output, which is what lets a Raft log replay it.

pub mod audit;
pub mod auth;
pub mod command;
pub mod config;
pub mod error;
pub mod fuzzy;
pub mod lock;
pub mod names;
pub mod namespace;
pub mod naming;
pub mod state;

/// Milliseconds since the Unix epoch, as carried in commands and records.
pub type Millis = i64;
