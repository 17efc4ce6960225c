//! Operations shared by every front end (HTTP v1, HTTP v2, later gRPC):
//! they take validated domain values, check what only the edge can check
//! (soft state), turn writes into durable commands or soft-registry calls,
//! and build the views readers get.

pub mod config;
pub mod namespace;
pub mod naming;
pub mod transfer;
