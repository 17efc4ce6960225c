//! The `nacos-sdk` crate over TLS against a Nocas server: login over
//! HTTPS, then gRPC over TLS for registration, subscription, config
//! publish, read and listen. Prints `RESULT: PASS` when every step worked.
//!
//! Env: `NOCAS_ADDR` (host:httpPort), `NOCAS_USERNAME`/`NOCAS_PASSWORD`,
//! `NACOS_CLIENT_TLS_CA_CERT` (the SDK's gRPC trust) and `SSL_CERT_FILE`
//! (its HTTPS login trust), both the test's CA.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nacos_sdk::api::config::{ConfigChangeListener, ConfigResponse, ConfigServiceBuilder};
use nacos_sdk::api::naming::{NamingServiceBuilder, ServiceInstance};
use nacos_sdk::api::props::ClientProps;

struct Listener(tokio::sync::mpsc::UnboundedSender<String>);

impl ConfigChangeListener for Listener {
    fn notify(&self, r: ConfigResponse) {
        let _ = self.0.send(r.content().to_string());
    }
}

async fn run() -> Result<(), String> {
    let addr = std::env::var("NOCAS_ADDR").map_err(|_| "NOCAS_ADDR is not set")?;
    let user = std::env::var("NOCAS_USERNAME").unwrap_or_default();
    let password = std::env::var("NOCAS_PASSWORD").unwrap_or_default();
    let props = ClientProps::new()
        .server_addr(addr)
        .namespace("")
        .app_name("nacos-rust-tls")
        .auth_username(user)
        .auth_password(password);
    let naming = NamingServiceBuilder::new(props.clone())
        .enable_auth_plugin_http()
        .build()
        .await
        .map_err(|e| format!("naming client: {e}"))?;
    naming
        .register_instance(
            "tls-svc".into(),
            Some("G".into()),
            ServiceInstance {
                ip: "10.9.0.1".into(),
                port: 8080,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("register: {e}"))?;
    println!("PASS: register over TLS");
    let seen = naming
        .select_instances("tls-svc".into(), Some("G".into()), vec![], true, true)
        .await
        .map_err(|e| format!("select: {e}"))?;
    if seen.len() != 1 || seen[0].ip != "10.9.0.1" {
        return Err(format!("select saw {seen:?}"));
    }
    println!("PASS: subscribe and list over TLS");
    let config = ConfigServiceBuilder::new(props)
        .enable_auth_plugin_http()
        .build()
        .await
        .map_err(|e| format!("config client: {e}"))?;
    let ok = config
        .publish_config("tls.yaml".into(), "G".into(), "k: 1".into(), None)
        .await
        .map_err(|e| format!("publish: {e}"))?;
    if !ok {
        return Err("publish answered false".into());
    }
    let got = config
        .get_config("tls.yaml".into(), "G".into())
        .await
        .map_err(|e| format!("get: {e}"))?;
    if got.content() != "k: 1" {
        return Err(format!("get read {:?}", got.content()));
    }
    println!("PASS: publish and read over TLS");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    config
        .add_listener("tls.yaml".into(), "G".into(), Arc::new(Listener(tx)))
        .await
        .map_err(|e| format!("listen: {e}"))?;
    config
        .publish_config("tls.yaml".into(), "G".into(), "k: 2".into(), None)
        .await
        .map_err(|e| format!("second publish: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(c)) if c == "k: 2" => break,
            Ok(Some(_)) => {}
            _ => return Err("the change was not pushed".into()),
        }
    }
    println!("PASS: config change pushed over TLS");
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(120), run()).await {
        Ok(Ok(())) => println!("RESULT: PASS"),
        Ok(Err(e)) => {
            println!("FAIL: {e}");
            println!("RESULT: FAIL");
            std::process::exit(1);
        }
        Err(_) => {
            println!("FAIL: timed out");
            println!("RESULT: FAIL");
            std::process::exit(2);
        }
    }
}
