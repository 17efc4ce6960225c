//! A raw Nacos gRPC client for tests that need to misbehave on purpose
//! (not answer pushes, not read, send bad frames) or look at frames exactly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use nocas_proto::grpc::{BiRequestStreamClient, Payload, RequestClient, parts, payload};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// A connection to a Nocas gRPC port.
pub struct RawGrpc {
    unary: RequestClient<Channel>,
    channel: Channel,
    to_server: Option<mpsc::Sender<Payload>>,
    /// Frames the server sent on the bi-stream, if [`RawGrpc::open_stream`]
    /// was asked to collect them.
    pub from_server: Option<mpsc::UnboundedReceiver<(String, Value)>>,
    stream_task: Option<tokio::task::JoinHandle<()>>,
}

impl RawGrpc {
    /// Connects (one HTTP/2 transport for unary and stream calls).
    pub async fn connect(addr: SocketAddr) -> Self {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect");
        let unary = RequestClient::new(channel.clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        Self {
            unary,
            channel,
            to_server: None,
            from_server: None,
            stream_task: None,
        }
    }

    /// Connects, checks the server and opens an auto-acknowledging stream;
    /// returns once the server acknowledged the setup.
    pub async fn ready(addr: SocketAddr) -> Self {
        let mut c = Self::connect(addr).await;
        let (t, _) = c.call("ServerCheckRequest", json!({"headers": {}})).await;
        assert_eq!(t, "ServerCheckResponse");
        c.open_stream(true, true).await;
        assert!(
            c.next_of("SetupAckRequest", Duration::from_secs(10))
                .await
                .is_some(),
            "setup not acknowledged"
        );
        c
    }

    /// Sends a unary request; returns the response type and JSON body.
    pub async fn call(&mut self, type_name: &str, body: Value) -> (String, Value) {
        self.call_raw(payload(type_name, &body, HashMap::new()))
            .await
    }

    /// Sends a unary payload as is.
    pub async fn call_raw(&mut self, p: Payload) -> (String, Value) {
        let resp = self
            .unary
            .request(p)
            .await
            .expect("unary call")
            .into_inner();
        let (t, b) = parts(&resp);
        (
            t.to_string(),
            serde_json::from_slice(b).unwrap_or(Value::Null),
        )
    }

    /// Sends a unary payload, returning the gRPC status on failure.
    pub async fn try_call_raw(&mut self, p: Payload) -> Result<(String, Value), tonic::Status> {
        let resp = self.unary.request(p).await?.into_inner();
        let (t, b) = parts(&resp);
        Ok((
            t.to_string(),
            serde_json::from_slice(b).unwrap_or(Value::Null),
        ))
    }

    /// Opens the bi-stream and sends `ConnectionSetupRequest`. With
    /// `auto_ack`, every server request is answered with `<Type>Response`
    /// carrying its request id. With `read == false` the stream is never
    /// read (a stuck client).
    pub async fn open_stream(&mut self, auto_ack: bool, read: bool) {
        let (tx, rx) = mpsc::channel::<Payload>(1024);
        let setup = json!({
            "clientVersion": "Nocas-Test-Client:1.0",
            "tenant": "",
            "labels": {"source": "sdk", "module": "naming"},
            "abilityTable": {"supportPersistentInstanceByGrpc": true},
            "headers": {},
            "module": "internal",
        });
        tx.send(payload("ConnectionSetupRequest", &setup, HashMap::new()))
            .await
            .expect("queue setup");
        let mut client = BiRequestStreamClient::new(self.channel.clone());
        let inbound = client
            .request_bi_stream(ReceiverStream::new(rx))
            .await
            .expect("open stream")
            .into_inner();
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let ack_tx = tx.clone();
        let task = tokio::spawn(async move {
            if !read {
                // Hold the stream open without reading it.
                let _keep = inbound;
                std::future::pending::<()>().await;
                return;
            }
            let mut inbound = inbound;
            while let Some(Ok(p)) = inbound.next().await {
                let (t, b) = parts(&p);
                let body: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
                if auto_ack && t.ends_with("Request") {
                    let resp_type = t.replace("Request", "Response");
                    let ack = json!({
                        "resultCode": 200,
                        "errorCode": 0,
                        "success": true,
                        "requestId": body["requestId"],
                    });
                    let _ = ack_tx.send(payload(&resp_type, &ack, HashMap::new())).await;
                }
                if seen_tx.send((t.to_string(), body)).is_err() {
                    break;
                }
            }
        });
        self.to_server = Some(tx);
        self.from_server = Some(seen_rx);
        self.stream_task = Some(task);
    }

    /// Sends a payload on the bi-stream.
    pub async fn send_on_stream(&self, p: Payload) {
        if let Some(tx) = &self.to_server {
            let _ = tx.send(p).await;
        }
    }

    /// Waits for the next server frame whose type is `type_name`.
    pub async fn next_of(&mut self, type_name: &str, timeout: Duration) -> Option<Value> {
        let rx = self.from_server.as_mut()?;
        tokio::time::timeout(timeout, async {
            while let Some((t, b)) = rx.recv().await {
                if t == type_name {
                    return Some(b);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }
}

impl Drop for RawGrpc {
    fn drop(&mut self) {
        if let Some(t) = self.stream_task.take() {
            t.abort();
        }
    }
}
