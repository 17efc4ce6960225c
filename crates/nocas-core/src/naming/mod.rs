//! Naming: services, clusters and instances.
//!
//! [`instance`] holds the instance model and its heartbeat timings,
//! [`service`] the durable service and cluster records, [`select`] the
//! protection-threshold selection every read uses, [`soft`] the registry of
//! ephemeral instances owned by live clients, and [`view`] merges durable and
//! soft state into what clients see.

pub mod instance;
pub mod metadata;
pub mod select;
pub mod service;
pub mod soft;
pub mod view;

pub use instance::{BeatTimings, Instance, InstanceKey, InstanceOverride, InstancePatch};
pub use metadata::{Metadata, MetadataLimits};
pub use service::{ClusterRecord, HealthChecker, Selector, ServiceRecord};
