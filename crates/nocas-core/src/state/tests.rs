use std::sync::Arc;

use super::*;
use crate::command::Publish;
use crate::config::{ConfigMeta, md5_hex};
use crate::names::{ClusterName, ConfigGroup, ConfigTag, DataId, ServiceName};
use crate::naming::{ClusterRecord, HealthChecker, InstancePatch};

fn ckey() -> ConfigKey {
    ConfigKey::new(
        NamespaceId::public(),
        ConfigGroup::parse(Some("G")).unwrap(),
        DataId::parse(Some("d")).unwrap(),
    )
}

fn skey() -> ServiceKey {
    ServiceKey::new(
        NamespaceId::public(),
        GroupName::default_group(),
        ServiceName::parse("svc").unwrap(),
    )
}

fn publish(content: &str) -> Publish {
    Publish {
        key: ckey(),
        content: Arc::from(content),
        md5: Arc::from(md5_hex(content)),
        meta: ConfigMeta::default(),
        tag: None,
        beta_ips: None,
        cas_md5: None,
        src_ip: "1.2.3.4".into(),
        src_user: String::new(),
    }
}

fn apply(s: &mut DurableState, now: Millis, cmd: Command) -> (CommandResult, Effects) {
    let mut fx = Effects::default();
    let r = s.apply(now, cmd, &mut fx);
    (r, fx)
}

fn history(fx: &Effects) -> Vec<&HistoryRecord> {
    fx.writes
        .iter()
        .filter_map(|w| match w {
            Write::History(h) => Some(&**h),
            _ => None,
        })
        .collect()
}

#[test]
fn publish_update_delete_records_history_like_nacos() {
    let mut s = DurableState::new();
    let (r, fx) = apply(&mut s, 10, Command::PublishConfig(Box::new(publish("v1"))));
    r.unwrap();
    let h = history(&fx);
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].op_type, &*h[0].content, h[0].nid),
        (OpType::Insert, "v1", 1)
    );
    assert_eq!(fx.events, vec![Event::Config(ckey())]);

    let (r, fx) = apply(&mut s, 20, Command::PublishConfig(Box::new(publish("v2"))));
    r.unwrap();
    let h = history(&fx);
    assert_eq!(
        (h[0].op_type, &*h[0].content, h[0].nid),
        (OpType::Update, "v1", 2)
    );
    let formal = s.config(&ckey()).unwrap().formal.clone().unwrap();
    assert_eq!(&*formal.content, "v2");
    assert_eq!((formal.created_ms, formal.modified_ms), (10, 20));

    let (r, fx) = apply(
        &mut s,
        30,
        Command::RemoveConfig {
            key: ckey(),
            tag: None,
            src_ip: "1.2.3.4".into(),
            src_user: String::new(),
        },
    );
    assert_eq!(r.unwrap(), Outcome::Removed { existed: true });
    let h = history(&fx);
    assert_eq!((h[0].op_type, &*h[0].content), (OpType::Delete, "v2"));
    assert!(s.config(&ckey()).is_none());
    // Removing again is fine and records nothing.
    let (r, fx) = apply(
        &mut s,
        40,
        Command::RemoveConfig {
            key: ckey(),
            tag: None,
            src_ip: String::new(),
            src_user: String::new(),
        },
    );
    assert_eq!(r.unwrap(), Outcome::Removed { existed: false });
    assert!(fx.writes.is_empty());
}

#[test]
fn cas_publish() {
    let mut s = DurableState::new();
    let mut p = publish("v1");
    p.cas_md5 = Some("whatever".into());
    // CAS on a missing config inserts, as Nacos does.
    apply(&mut s, 1, Command::PublishConfig(Box::new(p)))
        .0
        .unwrap();
    let mut p = publish("v2");
    p.cas_md5 = Some("wrong".into());
    let (r, fx) = apply(&mut s, 2, Command::PublishConfig(Box::new(p)));
    assert_eq!(r, Err(CommandError::CasMismatch));
    assert!(fx.writes.is_empty());
    let mut p = publish("v2");
    p.cas_md5 = Some(md5_hex("v1"));
    apply(&mut s, 3, Command::PublishConfig(Box::new(p)))
        .0
        .unwrap();
    assert_eq!(
        &*s.config(&ckey()).unwrap().formal.as_ref().unwrap().content,
        "v2"
    );
}

#[test]
fn beta_publish_promote_and_stop() {
    let mut s = DurableState::new();
    apply(
        &mut s,
        1,
        Command::PublishConfig(Box::new(publish("formal"))),
    )
    .0
    .unwrap();
    let mut p = publish("beta");
    p.beta_ips = Some(vec!["9.9.9.9".into()]);
    apply(&mut s, 2, Command::PublishConfig(Box::new(p)))
        .0
        .unwrap();
    let rec = s.config(&ckey()).unwrap();
    assert_eq!(
        &*rec.served("9.9.9.9", None).unwrap().version.content,
        "beta"
    );
    assert_eq!(
        &*rec.served("1.1.1.1", None).unwrap().version.content,
        "formal"
    );

    let promote = Command::PromoteBeta {
        key: ckey(),
        src_ip: String::new(),
        src_user: String::new(),
    };
    apply(&mut s, 3, promote.clone()).0.unwrap();
    let rec = s.config(&ckey()).unwrap();
    assert!(rec.beta.is_none());
    assert_eq!(&*rec.formal.as_ref().unwrap().content, "beta");
    assert_eq!(
        apply(&mut s, 4, promote).0,
        Err(CommandError::ConfigNotFound)
    );

    let mut p = publish("beta2");
    p.beta_ips = Some(vec!["9.9.9.9".into()]);
    apply(&mut s, 5, Command::PublishConfig(Box::new(p)))
        .0
        .unwrap();
    let stop = Command::RemoveBeta {
        key: ckey(),
        src_ip: String::new(),
        src_user: String::new(),
    };
    assert_eq!(
        apply(&mut s, 6, stop).0,
        Ok(Outcome::Removed { existed: true })
    );
    let rec = s.config(&ckey()).unwrap();
    assert_eq!(
        &*rec.served("9.9.9.9", None).unwrap().version.content,
        "beta"
    );
}

#[test]
fn tags_are_separate_versions() {
    let mut s = DurableState::new();
    let tag = ConfigTag::parse(Some("canary")).unwrap();
    let mut p = publish("tagged");
    p.tag = tag.clone();
    apply(&mut s, 1, Command::PublishConfig(Box::new(p)))
        .0
        .unwrap();
    let rec = s.config(&ckey()).unwrap();
    assert!(rec.formal.is_none());
    assert_eq!(
        &*rec.served("x", tag.as_ref()).unwrap().version.content,
        "tagged"
    );
    assert_eq!(s.config_count_in(&NamespaceId::public()), 0);
    apply(
        &mut s,
        2,
        Command::RemoveConfig {
            key: ckey(),
            tag,
            src_ip: String::new(),
            src_user: String::new(),
        },
    )
    .0
    .unwrap();
    assert!(s.config(&ckey()).is_none());
}

#[test]
fn imports_are_all_or_nothing() {
    let mut s = DurableState::default();
    let at = |id: &str, content: &str| Publish {
        key: ConfigKey::new(
            NamespaceId::public(),
            ConfigGroup::parse(Some("G")).unwrap(),
            DataId::parse(Some(id)).unwrap(),
        ),
        ..publish(content)
    };
    apply(&mut s, 1, Command::PublishConfig(Box::new(at("b", "old"))))
        .0
        .unwrap();
    let items = vec![at("a", "1"), at("b", "2"), at("c", "3")];
    let import = |policy| Command::ImportConfigs {
        items: items.clone(),
        policy,
    };
    // ABORT: b exists, so neither a nor c is written, and nothing is emitted.
    let (r, fx) = apply(&mut s, 2, import(ImportPolicy::Abort));
    assert_eq!(
        r.unwrap(),
        Outcome::Imported {
            written: vec![false; 3],
            conflict: Some(1)
        }
    );
    assert!(fx.writes.is_empty() && fx.events.is_empty());
    assert!(s.config(&at("a", "").key).is_none());
    // A key given twice is a conflict for ABORT too.
    let (r, _) = apply(
        &mut s,
        3,
        Command::ImportConfigs {
            items: vec![at("x", "1"), at("x", "2")],
            policy: ImportPolicy::Abort,
        },
    );
    assert!(matches!(
        r,
        Ok(Outcome::Imported {
            conflict: Some(1),
            ..
        })
    ));
    assert!(s.config(&at("x", "").key).is_none());
    // SKIP writes the others, OVERWRITE all.
    let (r, _) = apply(&mut s, 4, import(ImportPolicy::Skip));
    assert_eq!(
        r.unwrap(),
        Outcome::Imported {
            written: vec![true, false, true],
            conflict: None
        }
    );
    let content = |s: &DurableState, id: &str| {
        s.config(&at(id, "").key)
            .and_then(|r| r.formal.as_ref())
            .map(|v| v.content.to_string())
    };
    assert_eq!(content(&s, "b").as_deref(), Some("old"));
    assert_eq!(content(&s, "c").as_deref(), Some("3"));
    apply(&mut s, 5, import(ImportPolicy::Overwrite)).0.unwrap();
    assert_eq!(content(&s, "b").as_deref(), Some("2"));
}

#[test]
fn namespaces() {
    let mut s = DurableState::new();
    let id = NamespaceId::parse(Some("dev")).unwrap();
    let create = Command::CreateNamespace {
        id: id.clone(),
        name: "Dev".into(),
        desc: String::new(),
    };
    apply(&mut s, 1, create.clone()).0.unwrap();
    assert!(matches!(
        apply(&mut s, 1, create).0,
        Err(CommandError::NamespaceExists(_))
    ));
    apply(
        &mut s,
        2,
        Command::UpdateNamespace {
            id: id.clone(),
            name: "Dev2".into(),
            desc: "d".into(),
        },
    )
    .0
    .unwrap();
    assert_eq!(s.namespaces()[&id].name, "Dev2");
    assert_eq!(
        apply(
            &mut s,
            3,
            Command::DeleteNamespace {
                id: NamespaceId::public()
            }
        )
        .0,
        Err(CommandError::PublicNamespace)
    );
    assert_eq!(
        apply(&mut s, 3, Command::DeleteNamespace { id }).0,
        Ok(Outcome::Removed { existed: true })
    );
}

fn pinst(port: u16) -> Instance {
    Instance {
        ip: Arc::from("10.0.0.1"),
        port,
        cluster: ClusterName::default_cluster(),
        weight: 1.0,
        healthy: true,
        enabled: true,
        ephemeral: false,
        metadata: Default::default(),
    }
}

#[test]
fn persistent_instances_and_services() {
    let mut s = DurableState::new();
    let (r, fx) = apply(
        &mut s,
        1,
        Command::RegisterInstance {
            key: skey(),
            instance: pinst(80),
        },
    );
    r.unwrap();
    assert!(s.service(&skey()).is_some_and(|r| !r.ephemeral));
    assert!(fx.events.contains(&Event::Service(skey())));
    assert_eq!(s.instance_count(), 1);
    // Re-registering the same instance changes nothing.
    let (_, fx) = apply(
        &mut s,
        2,
        Command::RegisterInstance {
            key: skey(),
            instance: pinst(80),
        },
    );
    assert!(fx.writes.is_empty());
    assert!(matches!(
        apply(&mut s, 3, Command::DeleteService { key: skey() }).0,
        Err(CommandError::ServiceNotEmpty(_))
    ));
    let set_health = |healthy| Command::SetInstanceHealth {
        key: skey(),
        instance: pinst(80).key(),
        healthy,
        from_probe: false,
    };
    apply(&mut s, 4, set_health(false)).0.unwrap();
    assert!(!s.instances(&skey()).unwrap()[&pinst(80).key()].healthy);
    // With a TCP checker, only the probe decides.
    apply(
        &mut s,
        5,
        Command::UpdateCluster {
            key: skey(),
            cluster: ClusterName::default_cluster(),
            record: ClusterRecord {
                health_checker: HealthChecker::Tcp,
                ..Default::default()
            },
            upsert: false,
            ephemeral: false,
        },
    )
    .0
    .unwrap();
    assert!(matches!(
        apply(&mut s, 6, set_health(true)).0,
        Err(CommandError::NotAllowed(_))
    ));
    apply(
        &mut s,
        7,
        Command::UpdateInstance {
            key: skey(),
            instance: pinst(80).key(),
            patch: InstancePatch {
                weight: Some(3.0),
                ..Default::default()
            },
        },
    )
    .0
    .unwrap();
    assert_eq!(s.instances(&skey()).unwrap()[&pinst(80).key()].weight, 3.0);
    assert_eq!(
        apply(
            &mut s,
            8,
            Command::DeregisterInstance {
                key: skey(),
                instance: pinst(80).key()
            }
        )
        .0,
        Ok(Outcome::Removed { existed: true })
    );
    assert_eq!(s.instance_count(), 0);
    apply(&mut s, 9, Command::DeleteService { key: skey() })
        .0
        .unwrap();
    assert!(s.service(&skey()).is_none());
}

#[test]
fn restore_rebuilds_state() {
    let mut s = DurableState::new();
    apply(&mut s, 1, Command::PublishConfig(Box::new(publish("v1"))))
        .0
        .unwrap();
    let rec = s.config(&ckey()).unwrap().clone();
    let mut t = DurableState::new();
    t.restore(Restored::Config(ckey(), Box::new(rec)));
    t.restore(Restored::Instance(skey(), pinst(1)));
    t.restore(Restored::Counters {
        next_history_id: 7,
        next_config_id: 3,
    });
    assert!(t.config(&ckey()).is_some());
    assert_eq!(t.instance_count(), 1);
    let (_, fx) = apply(&mut t, 2, Command::PublishConfig(Box::new(publish("v2"))));
    assert_eq!(history(&fx)[0].nid, 7);
}

#[test]
fn auth_commands_keep_their_rules() {
    use crate::auth::{Action, Permission, UserRecord};
    let mut s = DurableState::new();
    let mut run = |c: AuthCommand| {
        let mut fx = Effects::default();
        let r = s.apply(0, Command::Auth(c), &mut fx);
        (r, fx)
    };
    let rec = UserRecord {
        password_hash: "h".into(),
    };
    let admin = || AuthCommand::InitAdmin {
        username: "nacos".into(),
        record: UserRecord {
            password_hash: "h".into(),
        },
    };
    let (r, fx) = run(admin());
    assert!(r.is_ok());
    assert_eq!(fx.events, vec![Event::Auth]);
    // Only while no administrator exists.
    assert!(matches!(run(admin()).0, Err(CommandError::NotAllowed(_))));
    assert!(matches!(
        run(AuthCommand::DeleteUser {
            username: "nacos".into()
        })
        .0,
        Err(CommandError::NotAllowed(_))
    ));
    assert!(matches!(
        run(AuthCommand::BindRole {
            role: crate::auth::GLOBAL_ADMIN_ROLE.into(),
            username: "nacos".into()
        })
        .0,
        Err(CommandError::NotAllowed(_))
    ));
    assert!(matches!(
        run(AuthCommand::BindRole {
            role: "dev".into(),
            username: "ghost".into()
        })
        .0,
        Err(CommandError::UserNotFound(_))
    ));
    let perm = Permission {
        role: "dev".into(),
        resource: "A:*:*".into(),
        action: Action::Read,
    };
    assert!(matches!(
        run(AuthCommand::Grant(perm.clone())).0,
        Err(CommandError::RoleNotFound(_))
    ));
    assert!(
        run(AuthCommand::CreateUser {
            username: "alice".into(),
            record: rec.clone(),
        })
        .0
        .is_ok()
    );
    assert!(matches!(
        run(AuthCommand::CreateUser {
            username: "alice".into(),
            record: rec,
        })
        .0,
        Err(CommandError::UserExists(_))
    ));
    assert!(
        run(AuthCommand::BindRole {
            role: "dev".into(),
            username: "alice".into()
        })
        .0
        .is_ok()
    );
    assert!(run(AuthCommand::Grant(perm.clone())).0.is_ok());
    // Removing the role takes its bindings and permissions.
    let (r, fx) = run(AuthCommand::UnbindRole {
        role: "dev".into(),
        username: None,
    });
    assert_eq!(r, Ok(Outcome::Removed { existed: true }));
    assert_eq!(fx.writes.len(), 2);
    assert_eq!(s.auth().permissions().count(), 0);
    assert!(!s.auth().role_exists("dev"));
}

#[test]
fn locks_have_one_holder_expire_on_log_time_and_fence_releases() {
    use crate::lock::{LockKey, LockOp};
    let mut s = DurableState::new();
    let key = LockKey::parse(Some("NACOS_LOCK"), Some("orders")).unwrap();
    let lock = |holder: &str, op| Command::Lock {
        key: key.clone(),
        holder: holder.to_string(),
        op,
    };
    let acquire = LockOp::Acquire { lease_ms: 1_000 };
    let granted = |r: CommandResult| match r {
        Ok(Outcome::Lock { granted }) => granted,
        other => panic!("unexpected {other:?}"),
    };
    let (r, fx) = apply(&mut s, 100, lock("a", acquire));
    assert!(granted(r));
    assert_eq!(fx.writes.len(), 1);
    // Held: nobody else (nor the holder again) gets it; only the holder
    // releases it.
    assert!(!granted(apply(&mut s, 500, lock("b", acquire)).0));
    assert!(!granted(apply(&mut s, 500, lock("a", acquire)).0));
    assert!(!granted(apply(&mut s, 600, lock("b", LockOp::Release)).0));
    assert!(granted(apply(&mut s, 700, lock("a", LockOp::Release)).0));
    assert!(!granted(apply(&mut s, 700, lock("a", LockOp::Release)).0));
    // A lease runs out at log time: the next holder gets it, the old one
    // can no longer release it.
    assert!(granted(apply(&mut s, 1_000, lock("a", acquire)).0));
    assert!(!granted(apply(&mut s, 1_999, lock("b", acquire)).0));
    assert!(granted(apply(&mut s, 2_000, lock("b", acquire)).0));
    assert!(!granted(apply(&mut s, 2_100, lock("a", LockOp::Release)).0));
    assert_eq!(s.locks().len(), 1);
    assert_eq!(s.locks()[&key].holder, "b");
    // An expired lease is dropped (and its removal written) by the next
    // lock command, whatever its key.
    let other = LockKey::parse(Some("NACOS_LOCK"), Some("other")).unwrap();
    let (r, fx) = apply(
        &mut s,
        10_000,
        Command::Lock {
            key: other,
            holder: "c".into(),
            op: LockOp::Release,
        },
    );
    assert!(!granted(r));
    assert!(s.locks().is_empty());
    assert_eq!(fx.writes.len(), 1);
}
