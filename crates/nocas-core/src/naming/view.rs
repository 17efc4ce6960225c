//! Read queries that merge durable state (service records, persistent
//! instances) with the soft registry (ephemeral instances).

use std::collections::BTreeSet;

use crate::names::{GroupName, NamespaceId, ServiceKey};
use crate::naming::instance::Instance;
use crate::naming::select::{SelectOptions, Selected, select};
use crate::naming::soft::SoftRegistry;
use crate::state::DurableState;

/// Every instance of a service, persistent and ephemeral.
pub fn all_instances(
    durable: &DurableState,
    soft: &SoftRegistry,
    key: &ServiceKey,
) -> Vec<Instance> {
    let mut out: Vec<Instance> = durable
        .instances(key)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    soft.for_each_instance(key, |si| out.push(si.instance.clone()));
    if let Some(overrides) = durable.overrides(key) {
        for inst in &mut out {
            if let Some(o) = overrides.get(&inst.key()) {
                o.apply(inst);
            }
        }
    }
    out
}

/// One instance as clients see it (what an operator set laid over it).
pub fn instance(
    durable: &DurableState,
    soft: &SoftRegistry,
    key: &ServiceKey,
    ikey: &crate::naming::InstanceKey,
) -> Option<Instance> {
    let mut inst = match soft.get(key, ikey) {
        Some(si) => si.instance,
        None => durable.instances(key)?.get(ikey)?.clone(),
    };
    if let Some(o) = durable.overrides(key).and_then(|m| m.get(ikey)) {
        o.apply(&mut inst);
    }
    Some(inst)
}

/// Selects a service's instances for a reader (protection threshold from
/// the service record, 0 when there is none).
pub fn select_instances(
    durable: &DurableState,
    soft: &SoftRegistry,
    key: &ServiceKey,
    opts: SelectOptions<'_>,
) -> Selected {
    let threshold = durable.service(key).map_or(0.0, |r| r.protect_threshold);
    let all = all_instances(durable, soft, key);
    select(&all, threshold, opts)
}

/// Whether a service exists: it has a record or any instance.
pub fn service_exists(durable: &DurableState, soft: &SoftRegistry, key: &ServiceKey) -> bool {
    durable.service(key).is_some()
        || durable.instances(key).is_some_and(|m| !m.is_empty())
        || soft.service_len(key) > 0
}

/// Keys of every service in a namespace (and group, if given), sorted.
pub fn service_keys(
    durable: &DurableState,
    soft: &SoftRegistry,
    namespace: &NamespaceId,
    group: Option<&GroupName>,
) -> Vec<ServiceKey> {
    let mut keys: BTreeSet<ServiceKey> = durable
        .services_in(namespace, group)
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(soft.service_keys(namespace, group));
    keys.into_iter().collect()
}
