//! The shared state of a running server and the small helpers every front
//! end uses: the clock, durable writes, and the limits in force.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nocas_cluster::Node;
use nocas_core::Millis;
use nocas_core::command::{Command, Outcome};
use nocas_core::naming::soft::SoftRegistry;
use nocas_core::naming::{BeatTimings, MetadataLimits};

use crate::error::ApiError;
use crate::grpc::conn::Connections;
use crate::metrics::Metrics;
use crate::push::Hub;
use crate::settings::Settings;

/// Everything a request handler may need.
pub struct App {
    /// Settings in force.
    pub settings: Settings,
    /// The Raft node holding durable state.
    pub node: Node,
    /// Ephemeral instances owned by this node's clients.
    pub soft: Arc<SoftRegistry>,
    /// Listeners and subscribers waiting for changes.
    pub hub: Arc<Hub>,
    /// UDP pushes to HTTP subscribers (unless turned off).
    pub udp: Option<Arc<crate::push::udp::UdpPush>>,
    /// gRPC client connections.
    pub conns: Connections,
    /// Serialized service views, shared until the service changes.
    pub views: crate::ops::naming::ViewCache,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Tokens, logins and access checks.
    pub auth: crate::auth::Auth,
    /// Refused logins and calls waiting to be written to the audit trail.
    pub security: crate::auth::events::SecurityEvents,
    /// When the process started serving.
    pub started: Instant,
    /// The HTTP address actually bound.
    pub http_addr: SocketAddr,
    /// The gRPC address.
    pub grpc_addr: SocketAddr,
    /// Set once a graceful shutdown began: connections closing from then
    /// on leave their instances alone (no subscriber is pushed a view
    /// shrunk by the server stopping; in a cluster the peers hand them
    /// over).
    pub stopping: std::sync::atomic::AtomicBool,
}

/// Shared handle to the app.
pub type AppRef = Arc<App>;

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Wall-clock milliseconds that never repeat or go backwards within this
/// process: clients drop a service view whose `lastRefTime` is not newer
/// than the one they hold.
pub fn monotonic_ms() -> Millis {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = now_ms();
    let mut prev = LAST.load(std::sync::atomic::Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(
            prev,
            next,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        ) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

impl App {
    /// Applies a durable command and returns its outcome.
    /// The request's actor (see [`crate::observe`]) is recorded with it in
    /// the audit trail; writes the server makes on its own have none.
    pub async fn write(&self, cmd: Command) -> Result<Outcome, ApiError> {
        let actor = crate::observe::current_actor();
        let naming = !matches!(
            cmd,
            Command::PublishConfig(_)
                | Command::ImportConfigs { .. }
                | Command::RemoveConfig { .. }
                | Command::RemoveBeta { .. }
                | Command::PromoteBeta { .. }
        );
        match self.node.write_as(cmd, actor).await {
            Ok(r) => Ok(r?),
            Err(e) => {
                if matches!(
                    e,
                    nocas_cluster::ClusterError::Storage(_)
                        | nocas_cluster::ClusterError::DiskFull(_)
                ) {
                    self.metrics.exception(if naming {
                        crate::metrics::Exception::Disk
                    } else {
                        crate::metrics::Exception::Db
                    });
                }
                Err(e.into())
            }
        }
    }

    /// Whether audit records that need cluster protocol `needs` may be
    /// written: not while an older node (which could not read them) is a
    /// member; those records are then left out and counted in
    /// `nocas_audit_skipped_total`.
    pub async fn audit_writable(&self, needs: u32) -> bool {
        let speaks = self
            .node
            .cluster_protocol_fresh(std::time::Duration::from_millis(
                self.settings.raft.rpc_timeout_ms,
            ))
            .await;
        if speaks >= needs {
            return true;
        }
        self.metrics.audit_skipped();
        tracing::debug!(
            cluster_protocol = speaks,
            needs,
            "audit record left out: a member of an older version could not read it"
        );
        false
    }

    /// Default beat timings from the settings.
    pub fn beat_defaults(&self) -> BeatTimings {
        let n = &self.settings.naming;
        BeatTimings {
            interval_ms: n.beat_interval_ms as i64,
            timeout_ms: n.beat_timeout_ms as i64,
            delete_ms: n.delete_timeout_ms as i64,
        }
    }

    /// This node's ephemeral instances changed in `keys`: tell subscribers
    /// and replicate to peers.
    pub fn soft_changed(&self, keys: &[nocas_core::names::ServiceKey]) {
        self.hub.services_changed(keys);
        self.node.soft_changed(keys);
    }

    /// One service's ephemeral instances changed as `change` says: push
    /// what clients see changed, replicate any changed record (an
    /// instance taken over from a gone node changes only its owner).
    pub fn soft_change(
        &self,
        key: &nocas_core::names::ServiceKey,
        change: nocas_core::naming::soft::Change,
    ) {
        let keys = std::slice::from_ref(key);
        if change.visible {
            self.hub.services_changed(keys);
        }
        if change.record {
            self.node.soft_changed(keys);
        }
    }

    /// Metadata limits from the settings.
    pub fn metadata_limits(&self) -> MetadataLimits {
        MetadataLimits {
            max_bytes: self.settings.limits.max_metadata_bytes,
            max_entries: self.settings.limits.max_metadata_entries,
        }
    }
}
