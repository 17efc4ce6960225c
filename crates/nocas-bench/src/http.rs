//! A lean HTTP/1.1 keep-alive connection for load generation (hyper's
//! connection API, no pool): one request at a time, reconnecting when the
//! server closes the connection.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One HTTP connection.
pub struct HttpConn {
    addr: SocketAddr,
    host: String,
    tx: Option<SendRequest<Full<Bytes>>>,
}

impl HttpConn {
    /// A connection to `addr` (opened on first use).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            tx: None,
        }
    }

    async fn connect(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.tx.as_ref().is_none_or(|t| t.is_closed()) {
            let stream = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connect {}", self.addr))?;
            stream.set_nodelay(true)?;
            let (tx, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.tx = Some(tx);
        }
        self.tx.as_mut().context("no connection")
    }

    /// Sends a request; returns the status and body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let host = self.host.clone();
        let tx = self.connect().await?;
        tx.ready().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host);
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = req.body(Full::new(form.unwrap_or_default()))?;
        let result = async {
            let resp = tx.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        if result.is_err() {
            self.tx = None;
        }
        result
    }

    /// A GET.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.send(Method::GET, path, None).await
    }

    /// A form POST.
    pub async fn post(&mut self, path: &str, form: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.send(
            Method::POST,
            path,
            Some(Bytes::copy_from_slice(form.as_bytes())),
        )
        .await
    }
}
