//! TLS on real processes, with certificates made in the test: the client
//! ports speak TLS only (plain HTTP and h2c get nothing useful), gRPC
//! negotiates `h2`, a changed certificate file is served to new
//! connections without a restart; a cluster with `--peer-ca` replicates
//! over mutual TLS and refuses a peer whose certificate another CA signed
//! (or that has none).

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nocas_testkit::tls::{LeafFiles, TestCa};
use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, ServerProcess, wait_until};
use rustls::pki_types::{CertificateDer, ServerName};

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(30);

/// Handshakes with `addr` trusting `ca_pem`, offering `alpn`; returns the
/// server's certificate and the protocol it chose.
async fn handshake(
    addr: SocketAddr,
    ca_pem: &str,
    alpn: &[&[u8]],
) -> std::io::Result<(CertificateDer<'static>, Option<Vec<u8>>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(ca_pem) {
        roots.add(c).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = connector.connect(name, tcp).await?;
    let (_, conn) = tls.get_ref();
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .expect("a server certificate");
    Ok((cert.into_owned(), conn.alpn_protocol().map(<[u8]>::to_vec)))
}

fn rustls_pemfile_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Writes a new leaf under the names of `files` (a new file, then renamed
/// over the old one, as certificate tools do).
fn replace_leaf(ca: &TestCa, files: &LeafFiles, name: &str) {
    let (cert, key) = ca.leaf(name);
    let tmp_cert = files.cert.with_extension("crt.new");
    let tmp_key = files.key.with_extension("key.new");
    std::fs::write(&tmp_key, key).unwrap();
    std::fs::write(&tmp_cert, cert).unwrap();
    std::fs::rename(&tmp_key, &files.key).unwrap();
    std::fs::rename(&tmp_cert, &files.cert).unwrap();
}

/// What a plain-TCP client gets from a TLS port: the bytes it could read.
fn plain_bytes(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ports_speak_tls_only_and_follow_a_changed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("nocas-test-ca");
    let leaf = ca.write_leaf(dir.path(), "server");
    let cfg = dir.path().join("nocas.toml");
    std::fs::write(&cfg, "[tls]\nreload_interval_ms = 100\n").unwrap();
    let s = ServerProcess::spawn(
        Path::new(BIN),
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--tls-cert",
            leaf.cert.to_str().unwrap(),
            "--tls-key",
            leaf.key.to_str().unwrap(),
        ],
    );
    let h = Http::with_ca(ca.pem().as_bytes(), None);
    let base = s.https_base();
    let r = h
        .post(
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", "d"), ("group", "G"), ("content", "over-tls")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .get(
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", "d"), ("group", "G")],
        )
        .await;
    assert_eq!(r.body, "over-tls");
    // The CLI with the CA.
    let ca_file = ca.write_ca(dir.path(), "ca.pem");
    let out = std::process::Command::new(BIN)
        .args([
            "config",
            "get",
            "d",
            "-g",
            "G",
            "--server",
            &base,
            "--ca-file",
        ])
        .arg(&ca_file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "over-tls",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // gRPC: TLS with ALPN h2, as grpc-java and grpcio require.
    let (grpc_cert, alpn) = handshake(s.grpc, &ca.pem(), &[b"h2"]).await.unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (http_cert, alpn) = handshake(s.http, &ca.pem(), &[b"http/1.1"]).await.unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(grpc_cert, http_cert);
    // Plain HTTP and h2c get nothing useful.
    let got = plain_bytes(
        s.http,
        b"GET /nacos/v1/cs/configs?dataId=d&group=G HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    // Nothing, or a TLS alert record (type 21): never an HTTP answer.
    assert!(
        got.is_empty() || got[0] == 0x15,
        "plain HTTP got: {:?}",
        String::from_utf8_lossy(&got)
    );
    let got = plain_bytes(s.grpc, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(
        got.is_empty() || got[0] == 0x15,
        "h2c got more than a TLS alert: {got:?}"
    );
    let mut raw = nocas_testkit::grpc::RawGrpc::connect(s.grpc).await;
    let p = nocas_proto::grpc::payload(
        "ServerCheckRequest",
        &serde_json::json!({"headers": {}}),
        Default::default(),
    );
    assert!(raw.try_call_raw(p).await.is_err(), "h2c call answered");
    // A new certificate under the same file names is served to new
    // connections without a restart; open clients keep working.
    replace_leaf(&ca, &leaf, "server-renewed");
    let addr = s.http;
    let pem = ca.pem();
    wait_until(WAIT, "the renewed certificate is served", || {
        let (pem, old) = (pem.clone(), http_cert.clone());
        async move {
            handshake(addr, &pem, &[b"http/1.1"])
                .await
                .is_ok_and(|(c, _)| c != old)
        }
    })
    .await;
    let (grpc_now, _) = handshake(s.grpc, &ca.pem(), &[b"h2"]).await.unwrap();
    assert_ne!(grpc_now, grpc_cert, "gRPC port follows too");
    let r = h
        .get(
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", "d"), ("group", "G")],
        )
        .await;
    assert_eq!(r.body, "over-tls");
    // A half-written file keeps the current certificate.
    std::fs::write(&leaf.cert, "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (still, _) = handshake(s.http, &ca.pem(), &[b"http/1.1"]).await.unwrap();
    assert_eq!(
        still, grpc_now,
        "a broken file does not replace the certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_replicate_over_mutual_tls_and_refuse_other_cas() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new("nocas-cluster-ca");
    let ca_file = ca.write_ca(certs.path(), "ca.pem");
    let node = ca.write_leaf(certs.path(), "node");
    let toml = format!("{FAST_CLUSTER_TOML}\n[tls]\nreload_interval_ms = 100\n");
    let c = ClusterProcesses::spawn(
        Path::new(BIN),
        3,
        &toml,
        &[
            "--no-console",
            "--tls-cert",
            node.cert.to_str().unwrap(),
            "--tls-key",
            node.key.to_str().unwrap(),
            "--peer-ca",
            ca_file.to_str().unwrap(),
        ],
    );
    let h = Http::with_ca(ca.pem().as_bytes(), None);
    let https = |i: usize| c.base(i).replacen("http://", "https://", 1);
    let b1 = https(1);
    wait_until(WAIT, "a write through node 1 is acknowledged", || {
        let (h, b1) = (h.clone(), b1.clone());
        async move {
            h.try_call(
                "POST",
                &format!("{b1}/nacos/v1/cs/configs"),
                &[],
                Some(&[("dataId", "m"), ("group", "G"), ("content", "mtls")]),
                &[],
            )
            .await
            .is_ok_and(|r| r.status == 200)
        }
    })
    .await;
    for i in 2..=3 {
        let (h, b) = (h.clone(), https(i));
        wait_until(WAIT, &format!("node {i} has the write"), move || {
            let (h, b) = (h.clone(), b.clone());
            async move {
                h.try_call(
                    "GET",
                    &format!("{b}/nacos/v1/cs/configs"),
                    &[("dataId", "m"), ("group", "G")],
                    None,
                    &[],
                )
                .await
                .is_ok_and(|r| r.body == "mtls")
            }
        })
        .await;
    }
    // The Raft port of node 1.
    let raft1: u16 = c.member(1).rsplit(':').next().unwrap().parse().unwrap();
    let raft_url = format!("https://127.0.0.1:{raft1}/raft/vote");
    let call = |client: Http| {
        let url = raft_url.clone();
        async move { client.try_call("POST", &url, &[], None, &[]).await }
    };
    // A peer with a certificate of the cluster's CA gets through TLS (and
    // an ordinary HTTP refusal of its empty body).
    let (cert, key) = ca.leaf("member");
    let member = Http::with_ca(ca.pem().as_bytes(), Some(format!("{cert}{key}").as_bytes()));
    let r = call(member).await.expect("TLS with a cluster certificate");
    assert!(r.status >= 400, "an empty vote is refused: {}", r.status);
    // Another CA's certificate, or none, is refused in the handshake.
    let rogue_ca = TestCa::new("rogue-ca");
    let (cert, key) = rogue_ca.leaf("rogue");
    let rogue = Http::with_ca(ca.pem().as_bytes(), Some(format!("{cert}{key}").as_bytes()));
    assert!(
        call(rogue).await.is_err(),
        "a peer of another CA got through"
    );
    let anonymous = Http::with_ca(ca.pem().as_bytes(), None);
    assert!(
        call(anonymous).await.is_err(),
        "a peer without a certificate got through"
    );
    // Plain HTTP to the Raft port gets nothing.
    let got = plain_bytes(
        SocketAddr::from(([127, 0, 0, 1], raft1)),
        b"POST /raft/vote HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(
        got.is_empty() || got[0] == 0x15,
        "plain HTTP answered: {got:?}"
    );
}
