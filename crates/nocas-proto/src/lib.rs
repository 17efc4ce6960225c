//! Nacos wire types.
//!
//! [`http`] holds the JSON shapes of the HTTP Open API (v1 and v2) exactly
//! as Nacos's clients parse them: field names, nesting, and which fields are
//! always present. Keeping them here, apart from the handlers, makes the
//! wire contract one readable file.
//!
//! Architecture invariant: data definitions only, no logic and no I/O.

pub mod codec;
pub mod grpc;
pub mod http;
