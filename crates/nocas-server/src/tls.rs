//! TLS on the client ports and mutual TLS between nodes (rustls).
//!
//! Owns: loading certificates and keys from PEM files, reloading them when
//! the files change (no restart: new handshakes get the new certificate,
//! open connections keep theirs), the server configurations of the HTTP
//! and console ports (ALPN `h2` and `http/1.1`), the gRPC port (`h2`) and
//! the Raft port (client certificates required, signed by the peer CA),
//! the client configuration nodes use to call each other, and handshakes
//! off the accept loop (a client that never finishes one is dropped after
//! `tls.handshake_timeout_ms` and holds no one else up).
//!
//! Does not own what is served over the streams; a port without TLS is
//! served exactly as before (plain TCP, no extra layer).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::settings::TlsSettings;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("TLS file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the material.
    #[error("TLS: {0}")]
    Rustls(String),
}

fn file_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a certificate chain and its key into a signing identity, checking
/// that the key belongs to the certificate.
pub fn load_identity(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, e))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no certificate in the file"));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| file_err(key, e))?;
    let identity = CertifiedKey::new(chain, signing);
    identity
        .keys_match()
        .map_err(|e| file_err(key, format!("the key does not match the certificate: {e}")))?;
    Ok(identity)
}

/// CA certificates from a PEM file.
pub fn load_roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| file_err(ca, e))? {
        roots
            .add(c.map_err(|e| file_err(ca, e))?)
            .map_err(|e| file_err(ca, e))?;
    }
    if roots.is_empty() {
        return Err(file_err(ca, "no CA certificate in the file"));
    }
    Ok(roots)
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// A certificate and key that follow their files.
pub struct Identity {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamps: Mutex<(Stamp, Stamp)>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads `cert` and `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let stamps = (stamp(cert), stamp(key));
        let id = load_identity(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(id),
            stamps: Mutex::new(stamps),
        }))
    }

    /// Loads the files again if either changed since the last load; a
    /// change that does not load (a half-written file, a key that does not
    /// match yet) keeps the current identity and is tried again next time.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (stamp(&self.cert), stamp(&self.key));
        if *self.stamps.lock() == now {
            return Ok(false);
        }
        let id = load_identity(&self.cert, &self.key)?;
        self.current.store(Arc::new(id));
        *self.stamps.lock() = now;
        Ok(true)
    }

    fn get(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for Identity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Everything TLS of one node.
pub struct Tls {
    /// HTTP and console ports.
    pub http: Option<Arc<ServerConfig>>,
    /// gRPC port.
    pub grpc: Option<Arc<ServerConfig>>,
    /// Raft port (client certificates required).
    pub peer_server: Option<Arc<ServerConfig>>,
    /// Calls to other nodes' Raft ports.
    pub peer_client: Option<Arc<ClientConfig>>,
    identities: Vec<Arc<Identity>>,
    handshake_timeout: Duration,
}

impl Tls {
    /// Sets TLS up from the settings (nothing when no file is set).
    pub fn new(s: &TlsSettings) -> Result<Self, TlsError> {
        let mut identities = Vec::new();
        let client_side = match (&s.cert, &s.key) {
            (Some(cert), Some(key)) => {
                let id = Identity::load(cert, key)?;
                identities.push(id.clone());
                Some(id)
            }
            _ => None,
        };
        let server = |alpn: &[&[u8]], id: &Arc<Identity>| -> Result<Arc<ServerConfig>, TlsError> {
            let mut c = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Rustls(e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(id.clone());
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(Arc::new(c))
        };
        let http = client_side
            .as_ref()
            .map(|id| server(&[b"h2", b"http/1.1"], id))
            .transpose()?;
        let grpc = client_side
            .as_ref()
            .map(|id| server(&[b"h2"], id))
            .transpose()?;
        let (peer_server, peer_client) = match &s.peer_ca {
            None => (None, None),
            Some(ca) => {
                let roots = Arc::new(load_roots(ca)?);
                let id = match (&s.peer_cert, &s.peer_key) {
                    (Some(c), Some(k)) => {
                        let id = Identity::load(c, k)?;
                        identities.push(id.clone());
                        id
                    }
                    _ => client_side.clone().ok_or_else(|| {
                        TlsError::Rustls("mutual TLS between nodes needs a certificate".into())
                    })?,
                };
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                        .build()
                        .map_err(|e| TlsError::Rustls(e.to_string()))?;
                let mut srv = ServerConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?
                    .with_client_cert_verifier(verifier)
                    .with_cert_resolver(id.clone());
                srv.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                let cli = ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_client_cert_resolver(id);
                (Some(Arc::new(srv)), Some(Arc::new(cli)))
            }
        };
        Ok(Self {
            http,
            grpc,
            peer_server,
            peer_client,
            identities,
            handshake_timeout: Duration::from_millis(s.handshake_timeout_ms.max(1)),
        })
    }

    /// Whether any port uses TLS.
    pub fn any(&self) -> bool {
        !self.identities.is_empty()
    }

    /// Reloads changed certificate files every `every` until `stop`.
    pub async fn reload_loop(
        self: Arc<Self>,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        if self.identities.is_empty() {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            for id in &self.identities {
                match id.reload_if_changed() {
                    Ok(true) => {
                        tracing::info!(cert = %id.cert.display(), "TLS certificate reloaded")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate changed but does not load: keeping the current one")
                    }
                }
            }
        }
    }

    /// A TLS listener over `listener` with `config`: accepts and does the
    /// handshakes in the background; `admit` may refuse a peer before its
    /// handshake, `released` hears of an admitted peer whose handshake
    /// failed.
    pub fn listen(
        &self,
        listener: TcpListener,
        config: Arc<ServerConfig>,
        admit: impl Fn(SocketAddr) -> bool + Send + Sync + 'static,
        released: impl Fn(SocketAddr) + Send + Sync + 'static,
    ) -> TlsListener {
        let local = listener.local_addr().unwrap_or_else(|_| {
            SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0)
        });
        let (tx, rx) = mpsc::channel(256);
        let acceptor = TlsAcceptor::from(config);
        let timeout = self.handshake_timeout;
        let released = Arc::new(released);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "TLS accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    _ = tx.closed() => return,
                };
                if !admit(peer) {
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, released) = (acceptor.clone(), tx.clone(), released.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            if tx.send((Io::Tls(Box::new(tls)), peer)).await.is_err() {
                                released(peer);
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            released(peer);
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            released(peer);
                        }
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

/// Accepted connections whose TLS handshake finished.
pub struct TlsListener {
    rx: mpsc::Receiver<(Io, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// The next connection (`None` once the accept task ended).
    pub async fn next(&mut self) -> Option<(Io, SocketAddr)> {
        self.rx.recv().await
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Io;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// A client connection, plain or TLS.
pub enum Io {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Io {
    /// The underlying TCP stream.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn loads_reloads_and_refuses_mismatched_or_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "a");
        let id = Identity::load(&cert, &key).unwrap();
        let first = id.get();
        assert!(!id.reload_if_changed().unwrap(), "nothing changed");
        // A new pair under the same names is picked up.
        let (c2, k2) = write_pair(dir.path(), "b");
        std::fs::copy(&c2, &cert).unwrap();
        std::fs::copy(&k2, &key).unwrap();
        // Make sure the stamp differs even on coarse clocks.
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&cert)
            .unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        assert!(id.reload_if_changed().unwrap());
        assert_ne!(first.cert[0], id.get().cert[0]);
        // A key of another certificate is refused and the current kept.
        let (_, k3) = write_pair(dir.path(), "c");
        std::fs::copy(&k3, &key).unwrap();
        let f = std::fs::OpenOptions::new().append(true).open(&key).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(10))
            .unwrap();
        let e = id.reload_if_changed().unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        assert_eq!(id.get().cert[0], c2_der(&c2));
        assert!(Identity::load(&dir.path().join("none.crt"), &key).is_err());
        std::fs::write(dir.path().join("empty.crt"), "").unwrap();
        assert!(load_roots(&dir.path().join("empty.crt")).is_err());
    }

    fn c2_der(p: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(p).unwrap()
    }
}
