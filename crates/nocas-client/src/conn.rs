//! One gRPC connection to one server: `ServerCheckRequest`, the bi-stream
//! with `ConnectionSetupRequest`, unary calls with a timeout, and server
//! pushes (acknowledged, then handed to the client).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nocas_proto::grpc::{BiRequestStreamClient, Payload, RequestClient, parts, payload};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::error::ClientError;

/// A push from the server: its type and body.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub kind: String,
    pub body: Value,
}

/// A live connection.
pub(crate) struct Connection {
    /// Index of the server in the options.
    pub server: usize,
    /// Id the server gave it.
    pub id: String,
    unary: RequestClient<Channel>,
    _to_server: mpsc::Sender<Payload>,
    alive: Arc<AtomicBool>,
    /// Notified when the stream ends.
    pub closed: Arc<Notify>,
    timeout: Duration,
}

fn max_message() -> usize {
    64 << 20
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Unavailable(e.to_string())
}

impl Connection {
    /// Connects to `addr` (gRPC `host:port`) and sets the connection up.
    pub async fn open(
        server: usize,
        addr: &str,
        namespace: &str,
        app: &str,
        connect_timeout: Duration,
        timeout: Duration,
        pushes: mpsc::UnboundedSender<Push>,
    ) -> Result<Self, ClientError> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| ClientError::Invalid(e.to_string()))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(transport)?;
        let mut unary = RequestClient::new(channel.clone())
            .max_decoding_message_size(max_message())
            .max_encoding_message_size(max_message());
        let check = tokio::time::timeout(
            timeout,
            unary.request(payload(
                "ServerCheckRequest",
                &json!({"headers": {}}),
                HashMap::new(),
            )),
        )
        .await
        .map_err(|_| ClientError::Timeout(timeout.as_millis() as u64))?
        .map_err(transport)?
        .into_inner();
        let (t, b) = parts(&check);
        let body: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
        if t != "ServerCheckResponse" {
            return Err(ClientError::Unavailable(format!(
                "server check answered {t}: {body}"
            )));
        }
        let id = body["connectionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (tx, rx) = mpsc::channel::<Payload>(256);
        let setup = json!({
            "clientVersion": concat!("Nocas-Rust-Client:", env!("CARGO_PKG_VERSION")),
            "tenant": namespace,
            "labels": {"source": "sdk", "module": "naming,config", "AppName": app},
            "headers": {},
        });
        tx.send(payload("ConnectionSetupRequest", &setup, HashMap::new()))
            .await
            .map_err(transport)?;
        let mut inbound = BiRequestStreamClient::new(channel)
            .max_decoding_message_size(max_message())
            .request_bi_stream(ReceiverStream::new(rx))
            .await
            .map_err(transport)?
            .into_inner();
        let alive = Arc::new(AtomicBool::new(true));
        let closed = Arc::new(Notify::new());
        let ack_tx = tx.clone();
        let (alive2, closed2) = (alive.clone(), closed.clone());
        tokio::spawn(async move {
            while let Some(Ok(p)) = inbound.next().await {
                let (t, b) = parts(&p);
                let body: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
                if t.ends_with("Request") {
                    let ack = json!({"resultCode": 200, "errorCode": 0, "success": true, "requestId": body["requestId"]});
                    let _ = ack_tx
                        .send(payload(
                            &t.replace("Request", "Response"),
                            &ack,
                            HashMap::new(),
                        ))
                        .await;
                }
                if t == "ConnectResetRequest" {
                    break;
                }
                let _ = pushes.send(Push {
                    kind: t.to_string(),
                    body,
                });
            }
            alive2.store(false, Ordering::SeqCst);
            closed2.notify_waiters();
        });
        let conn = Self {
            server,
            id,
            unary,
            _to_server: tx,
            alive,
            closed,
            timeout,
        };
        // The setup travels on the stream: wait until the server has it.
        for _ in 0..100 {
            match conn
                .call("HealthCheckRequest", &json!({"headers": {}}))
                .await
            {
                Ok(_) => return Ok(conn),
                Err(ClientError::Server { code: 301, .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Unavailable(
            "connection never registered".into(),
        ))
    }

    /// Whether the stream is still up.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Marks the connection unusable.
    pub fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
        self.closed.notify_waiters();
    }

    /// A unary call. A response with `success: false` is an error.
    pub async fn call<T: Serialize>(
        &self,
        type_name: &str,
        body: &T,
    ) -> Result<Value, ClientError> {
        let mut unary = self.unary.clone();
        let req = payload(type_name, body, HashMap::new());
        let resp = tokio::time::timeout(self.timeout, unary.request(req))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout.as_millis() as u64))?
            .map_err(|s| {
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                ) {
                    ClientError::Unavailable(s.to_string())
                } else {
                    ClientError::Protocol(s.to_string())
                }
            })?
            .into_inner();
        let (_, b) = parts(&resp);
        let body: Value =
            serde_json::from_slice(b).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let ok = body["success"]
            .as_bool()
            .unwrap_or(body["resultCode"] == 200);
        if ok {
            Ok(body)
        } else {
            Err(ClientError::Server {
                code: body["errorCode"].as_i64().unwrap_or(500),
                message: body["message"].as_str().unwrap_or_default().to_string(),
            })
        }
    }
}
