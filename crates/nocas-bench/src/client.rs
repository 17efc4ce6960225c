//! A minimal Nacos 2.x gRPC client for load generation: one HTTP/2
//! connection, `ServerCheckRequest`, the bi-stream with
//! `ConnectionSetupRequest`, acknowledgement of every push, and unary calls.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nocas_proto::grpc::{BiRequestStreamClient, Payload, RequestClient, parts, payload};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// A push as received: its type, raw JSON body and arrival time. The body
/// is not parsed on arrival: with 10,000 subscribers in one process the
/// receiving side, not the server, would otherwise set the pace.
pub struct Push {
    /// Type name.
    pub kind: String,
    /// JSON body, as sent.
    pub body: Vec<u8>,
    /// Arrival.
    pub at: Instant,
}

impl Push {
    /// Whether the body holds `"<field>":<n>` (a number, not a prefix of a
    /// longer one), without parsing it.
    pub fn has_number(&self, field: &str, n: u64) -> bool {
        let needle = format!("\"{field}\":{n}");
        memchr::memmem::find_iter(&self.body, needle.as_bytes()).any(|at| {
            !self
                .body
                .get(at + needle.len())
                .is_some_and(u8::is_ascii_digit)
        })
    }

    /// Whether the body holds `"<field>":"<s>"` (`s` has no characters JSON
    /// would escape).
    pub fn has_string(&self, field: &str, s: &str) -> bool {
        let needle = format!("\"{field}\":\"{s}\"");
        memchr::memmem::find(&self.body, needle.as_bytes()).is_some()
    }
}

/// The `requestId` of a request sent on the stream.
#[derive(serde::Deserialize)]
struct RequestId {
    #[serde(rename = "requestId", default)]
    request_id: Option<String>,
}

/// Where a connection's pushes go, tagged with the connection's index.
pub type PushSink = (usize, mpsc::UnboundedSender<(usize, Push)>);

/// One client connection.
pub struct Conn {
    unary: RequestClient<Channel>,
    _to_server: mpsc::Sender<Payload>,
    /// Reads (and acknowledges) the server's pushes; holds the stream open.
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    /// Closing a connection ends its stream too (the reader holds it), so
    /// the server sees the client go.
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Conn {
    /// Connects, checks the server and sets the connection up; pushes
    /// (acknowledged automatically) go to `pushes`.
    pub async fn open(grpc: SocketAddr, pushes: Option<PushSink>) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(format!("http://{grpc}"))?
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .with_context(|| format!("connect {grpc}"))?;
        let mut unary = RequestClient::new(channel.clone());
        let resp = unary
            .request(payload(
                "ServerCheckRequest",
                &json!({"headers": {}}),
                HashMap::new(),
            ))
            .await?
            .into_inner();
        if parts(&resp).0 != "ServerCheckResponse" {
            bail!("server check failed: {}", parts(&resp).0);
        }
        let (tx, rx) = mpsc::channel::<Payload>(256);
        let setup = json!({
            "clientVersion": "Nocas-Bench:0.1",
            "tenant": "",
            "labels": {"source": "sdk", "module": "naming"},
            "headers": {},
        });
        tx.send(payload("ConnectionSetupRequest", &setup, HashMap::new()))
            .await?;
        let mut inbound = BiRequestStreamClient::new(channel)
            .request_bi_stream(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let ack_tx = tx.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(mut p)) = inbound.next().await {
                let at = Instant::now();
                let kind = p.metadata.take().map(|m| m.r#type).unwrap_or_default();
                let body = p.body.take().map(|b| b.value).unwrap_or_default();
                if let Some(base) = kind.strip_suffix("Request") {
                    let rid = serde_json::from_slice::<RequestId>(&body)
                        .ok()
                        .and_then(|r| r.request_id);
                    let ack = json!({"resultCode": 200, "errorCode": 0, "success": true, "requestId": rid});
                    let _ = ack_tx
                        .send(payload(&format!("{base}Response"), &ack, HashMap::new()))
                        .await;
                }
                if let Some((i, p)) = &pushes {
                    let _ = p.send((*i, Push { kind, body, at }));
                }
            }
        });
        let mut conn = Self {
            unary,
            _to_server: tx,
            reader,
        };
        // The setup travels on the stream; wait until the server has it.
        for _ in 0..200 {
            let (t, _) = conn
                .call("HealthCheckRequest", json!({"headers": {}}))
                .await?;
            if t == "HealthCheckResponse" {
                return Ok(conn);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("connection never registered")
    }

    /// A unary call with a prepared payload; `true` when the server
    /// answered with result code 200.
    pub async fn call_ok(&mut self, p: Payload) -> bool {
        match self.unary.request(p).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let body = parts(&resp).1;
                memchr_ok(body)
            }
            Err(_) => false,
        }
    }

    /// A unary call with a prepared payload; the JSON body's size.
    pub async fn body_bytes(&mut self, p: Payload) -> anyhow::Result<usize> {
        let resp = self.unary.request(p).await?.into_inner();
        Ok(parts(&resp).1.len())
    }

    /// A unary call; returns the response type and body.
    pub async fn call(&mut self, type_name: &str, body: Value) -> anyhow::Result<(String, Value)> {
        let resp = self
            .unary
            .request(payload(type_name, &body, HashMap::new()))
            .await?
            .into_inner();
        let (t, b) = parts(&resp);
        Ok((
            t.to_string(),
            serde_json::from_slice(b).unwrap_or(Value::Null),
        ))
    }
}

/// Whether a response body says `"resultCode":200` (without parsing it).
fn memchr_ok(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"resultCode\":200";
    memchr::memmem::find(body, NEEDLE).is_some()
}
