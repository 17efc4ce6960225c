//! Access tokens: HS256 JWTs (`sub` = user, `exp`, `gen` = the user's
//! credential generation) signed with the server's secret, and where that
//! secret comes from.
//!
//! Owns the secret's rules (configured: base64 or raw, at least 32 bytes;
//! otherwise generated once into the data dir, readable by the owner only)
//! and signing/verification. Verification accepts HS256 only, so `alg=none`
//! and tokens signed with another key or algorithm are refused.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use super::AuthSetupError;

/// Shortest accepted secret, bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// File under the data dir holding a generated secret (base64).
pub const SECRET_FILE: &str = "token-secret";

/// Claims of a Nocas token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    /// The user's credential generation when the token was issued (see
    /// [`super::generation`]); a token without one (issued by an earlier
    /// version) is refused.
    #[serde(rename = "gen")]
    generation: u64,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user.
    pub user: String,
    /// The user's credential generation at issue.
    pub generation: u64,
}

/// Why a token was refused (the text is what the client sees).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token.
    #[error("user not found!")]
    Missing,
    /// Past its `exp`.
    #[error("token expired!")]
    Expired,
    /// Malformed, wrong algorithm or wrong signature.
    #[error("token invalid!")]
    Invalid,
}

/// Signs and verifies tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_s: u64,
}

impl Tokens {
    /// Keys over `secret`.
    pub fn new(secret: &[u8], ttl_s: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_s,
        }
    }

    /// Token lifetime, seconds.
    pub fn ttl_s(&self) -> u64 {
        self.ttl_s
    }

    /// A token for `user` at credential `generation`, valid `ttl_s` from
    /// `now_s`.
    pub fn issue(&self, user: &str, generation: u64, now_s: u64) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user.to_string(),
            exp: now_s.saturating_add(self.ttl_s),
            generation,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// What a token says, if it is ours and current.
    pub fn verify(&self, token: &str) -> Result<Subject, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(Subject {
                user: data.claims.sub,
                generation: data.claims.generation,
            }),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

/// Decodes a configured secret: base64 when it decodes to at least 32
/// bytes, else the raw bytes when there are at least 32.
pub fn parse_secret(raw: &str) -> Result<Vec<u8>, AuthSetupError> {
    let raw = raw.trim();
    if let Ok(bytes) = STANDARD.decode(raw)
        && bytes.len() >= MIN_SECRET_BYTES
    {
        return Ok(bytes);
    }
    if raw.len() >= MIN_SECRET_BYTES {
        return Ok(raw.as_bytes().to_vec());
    }
    Err(AuthSetupError::ShortSecret {
        min: MIN_SECRET_BYTES,
    })
}

/// The secret: configured, else the one generated into `data_dir` (made on
/// first use).
pub fn load_secret(configured: Option<&str>, data_dir: &Path) -> Result<Vec<u8>, AuthSetupError> {
    if let Some(raw) = configured {
        return parse_secret(raw);
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_secret(&text).map_err(|_| AuthSetupError::BadSecretFile(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(&path),
        Err(source) => Err(AuthSetupError::Io { path, source }),
    }
}

fn generate(path: &PathBuf) -> Result<Vec<u8>, AuthSetupError> {
    let mut secret = vec![0u8; 48];
    rand::rng().fill_bytes(&mut secret);
    let io = |source: std::io::Error| AuthSetupError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(STANDARD.encode(&secret).as_bytes())
            .map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    tracing::info!(path = %path.display(), "generated the token secret");
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_refusals() {
        let t = Tokens::new(&[7u8; 32], 100);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tok = t.issue("alice", 9, now).unwrap();
        assert_eq!(
            t.verify(&tok),
            Ok(Subject {
                user: "alice".into(),
                generation: 9
            })
        );
        assert_eq!(
            t.verify(&t.issue("a", 1, now - 1000).unwrap()),
            Err(TokenError::Expired)
        );
        let other = Tokens::new(&[8u8; 32], 100);
        assert_eq!(other.verify(&tok), Err(TokenError::Invalid));
        // alg=none: header {"alg":"none"}, same claims, empty signature.
        let claims = tok.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert_eq!(t.verify(&none), Err(TokenError::Invalid));
        assert_eq!(t.verify("garbage"), Err(TokenError::Invalid));
        // A token of an earlier version: no generation claim.
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "exp": now + 100}),
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert_eq!(t.verify(&old), Err(TokenError::Invalid));
    }

    #[test]
    fn secrets() {
        assert!(parse_secret("short").is_err());
        assert_eq!(parse_secret(&"x".repeat(32)).unwrap().len(), 32);
        assert_eq!(
            parse_secret(&STANDARD.encode([1u8; 40])).unwrap(),
            vec![1u8; 40]
        );
        let dir = tempfile::tempdir().unwrap();
        let a = load_secret(None, dir.path()).unwrap();
        let b = load_secret(None, dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= MIN_SECRET_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
