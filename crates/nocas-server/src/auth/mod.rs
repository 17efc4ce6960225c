//! Authentication and authorization at the edge.
//!
//! Owns: the token secret and tokens ([`token`]), password hashing
//! (argon2id; hashes never leave the server), login with lockout
//! ([`lockout`]), the initial administrator, and the one access decision
//! every front end asks for ([`Auth::check`] with a [`Need`]). HTTP routes
//! map to a `Need` in `http::guard`, gRPC request types in `grpc::guard`.
//!
//! Does not own users, roles or permissions: those are durable state
//! (`nocas_core::auth`), changed only through the Raft log and read here.
//! No header, user agent or source address skips a check.

pub mod events;
pub mod lockout;
pub mod token;

use std::path::PathBuf;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params as Argon2Params, Version};
use nocas_core::auth::{Action, AuthState, Resource, UserRecord};
use rand::Rng as _;

use crate::settings::AuthSettings;
use lockout::{Lockout, LockoutRules};
use token::{Subject, TokenError, Tokens};

/// A user's credential generation: changes whenever the user's password
/// changes (every hash is salted, so also when the user is deleted and made
/// again). Tokens carry the generation they were issued at and are refused
/// once it differs, on every node (the hash is replicated state).
pub fn generation(record: &UserRecord) -> u64 {
    xxhash_rust::xxh3::xxh3_64(record.password_hash.as_bytes())
}

/// Why auth could not be set up (the server refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The configured secret is too short.
    #[error("the token secret must be at least {min} bytes (base64 or raw)")]
    ShortSecret {
        /// Minimum length.
        min: usize,
    },
    /// The generated secret file is damaged.
    #[error("the token secret file {0} is not a valid secret; remove it to generate a new one")]
    BadSecretFile(PathBuf),
    /// Reading or writing the secret failed.
    #[error("token secret {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Argon2 settings are out of range.
    #[error("invalid argon2 settings: {0}")]
    Argon2(String),
}

/// What a call needs to be allowed.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Nothing (health probes, login).
    Public,
    /// Any valid token.
    Authenticated,
    /// A global administrator.
    Admin,
    /// A global administrator, or the named user acting on itself.
    AdminOrSelf(String),
    /// The action on every one of these resources.
    Access(Vec<Resource>, Action),
}

/// Why a call was refused (the text is what the client sees).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Bad or missing token.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// Valid token, not enough rights.
    #[error("authorization failed!")]
    NoRight,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The token.
    pub token: String,
    /// Its lifetime, seconds.
    pub ttl_s: u64,
    /// Whether the user is a global administrator.
    pub global_admin: bool,
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password (not told apart).
    #[error("unknown user!")]
    BadCredentials,
    /// Too many failures from this IP.
    #[error("too many failed logins for this user from this address; try again later")]
    Locked,
    /// Signing failed.
    #[error("cannot issue a token")]
    Internal,
}

/// The auth service of one node.
pub struct Auth {
    enabled: bool,
    tokens: Tokens,
    lockout: Lockout,
    hasher: Argon2<'static>,
    /// A hash checked when the user does not exist, so that unknown users
    /// take as long as wrong passwords (made on first need).
    decoy: std::sync::OnceLock<String>,
    /// Password hashing runs at most this many at once (each argon2 call
    /// takes `argon2_memory_kib` of memory and a core for tens of ms), so a
    /// flood of logins queues instead of exhausting memory.
    hashing: tokio::sync::Semaphore,
}

impl Auth {
    /// Sets auth up from the settings: the secret is loaded (or generated
    /// into `data_dir`) only when auth is on.
    pub fn new(s: &AuthSettings, data_dir: &std::path::Path) -> Result<Self, AuthSetupError> {
        let secret = if s.enabled {
            token::load_secret(s.token_secret.as_deref(), data_dir)?
        } else {
            // Auth off: tokens are never checked; login answers with a token
            // signed by a throwaway key so configured SDKs stay quiet.
            let mut k = vec![0u8; 32];
            rand::rng().fill(&mut k[..]);
            k
        };
        let params = Argon2Params::new(s.argon2_memory_kib, s.argon2_iterations, 1, None)
            .map_err(|e| AuthSetupError::Argon2(e.to_string()))?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        Ok(Self {
            enabled: s.enabled,
            tokens: Tokens::new(&secret, s.token_ttl_s),
            lockout: Lockout::new(LockoutRules {
                failures: s.lockout_failures,
                window_ms: s.lockout_window_ms,
                lock_ms: s.lockout_ms,
                max_entries: s.lockout_max_entries,
            }),
            hasher,
            decoy: std::sync::OnceLock::new(),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        })
    }

    /// Waits for a turn to hash or verify a password.
    pub async fn hashing_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.hashing.acquire().await.ok()
    }

    /// Whether checks are on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Hashes a password (CPU-heavy: call off the async threads).
    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Ok(self
            .hasher
            .hash_password(password.as_bytes(), &salt)?
            .to_string())
    }

    fn verify_password(&self, password: &str, hash: &str) -> bool {
        PasswordHash::new(hash)
            .is_ok_and(|h| self.hasher.verify_password(password.as_bytes(), &h).is_ok())
    }

    /// Checks a login of `user` (its stored `record`, if any) from `ip`
    /// (CPU-heavy: call off the async threads).
    pub fn login(
        &self,
        user: &str,
        record: Option<&UserRecord>,
        is_admin: bool,
        password: &str,
        ip: &str,
        now_ms: i64,
    ) -> Result<Login, LoginError> {
        if self.lockout.locked(user, ip, now_ms).is_some() {
            return Err(LoginError::Locked);
        }
        let ok = match record {
            Some(rec) => self.verify_password(password, &rec.password_hash),
            None => {
                let decoy = self
                    .decoy
                    .get_or_init(|| self.hash(&random_password()).unwrap_or_default());
                self.verify_password(password, decoy);
                false
            }
        };
        if !ok {
            if self.lockout.fail(user, ip, now_ms) {
                tracing::warn!(user, ip, "login locked after repeated failures");
            }
            return Err(LoginError::BadCredentials);
        }
        self.lockout.succeed(user, ip);
        let generation = record.map(generation).unwrap_or_default();
        let token = self
            .tokens
            .issue(user, generation, (now_ms / 1000).max(0) as u64)
            .map_err(|_| LoginError::Internal)?;
        Ok(Login {
            token,
            ttl_s: self.tokens.ttl_s(),
            global_admin: is_admin,
        })
    }

    /// A token for a login while auth is off (nothing is checked).
    pub fn token_without_auth(&self, user: &str, now_ms: i64) -> Login {
        Login {
            token: self
                .tokens
                .issue(user, 0, (now_ms / 1000).max(0) as u64)
                .unwrap_or_default(),
            ttl_s: self.tokens.ttl_s(),
            global_admin: true,
        }
    }

    /// Decides a call: `Ok(Some(user))` when a token named a user,
    /// `Ok(None)` when auth is off or the call is public.
    pub fn check(
        &self,
        state: &AuthState,
        token: Option<&str>,
        need: &Need,
    ) -> Result<Option<String>, Denied> {
        Ok(self.check_subject(state, token, need)?.map(|s| s.user))
    }

    /// [`Auth::check`], answering with what the token said.
    pub fn check_subject(
        &self,
        state: &AuthState,
        token: Option<&str>,
        need: &Need,
    ) -> Result<Option<Subject>, Denied> {
        if !self.enabled || *need == Need::Public {
            return Ok(None);
        }
        let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        let subject = self.tokens.verify(token)?;
        Self::decide(state, &subject, need)?;
        Ok(Some(subject))
    }

    /// Who a token names (signature and expiry checked, nothing else);
    /// `None` when auth is off or the token is not valid.
    pub fn subject(&self, token: Option<&str>) -> Option<Subject> {
        if !self.enabled {
            return None;
        }
        self.tokens.verify(token.filter(|t| !t.is_empty())?).ok()
    }

    /// Decides a call of `subject` (a token already verified) against the
    /// current users, roles and permissions: a deleted user or a changed
    /// password makes the token worthless at once.
    pub fn decide(state: &AuthState, subject: &Subject, need: &Need) -> Result<String, Denied> {
        let user = &subject.user;
        match state.user(user) {
            Some(rec) if generation(rec) == subject.generation => {}
            _ => return Err(Denied::Token(TokenError::Invalid)),
        }
        let allowed = match need {
            Need::Public | Need::Authenticated => true,
            Need::Admin => state.is_admin(user),
            Need::AdminOrSelf(who) => who == user || state.is_admin(user),
            Need::Access(resources, action) => {
                resources.iter().all(|r| state.allows(user, r, *action))
            }
        };
        if allowed {
            Ok(user.clone())
        } else {
            Err(Denied::NoRight)
        }
    }
}

/// Creates the initial administrator `nacos` when auth is on and no
/// administrator exists: with the configured password, else a generated
/// one printed once. Several nodes may try; the log keeps the first.
pub async fn ensure_admin(app: &crate::app::AppRef) -> Result<(), crate::error::ApiError> {
    use crate::error::ApiError;
    use nocas_core::command::{AuthCommand, Command};
    use nocas_core::error::CommandError;
    if !app.auth.enabled() || app.node.state().read().auth().has_admin() {
        return Ok(());
    }
    let (password, generated) = match &app.settings.auth.admin_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (random_password(), true),
    };
    let _turn = app.auth.hashing_turn().await;
    let hashing = app.clone();
    let pw = password.clone();
    let password_hash = tokio::task::spawn_blocking(move || hashing.auth.hash(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let cmd = Command::Auth(AuthCommand::InitAdmin {
        username: nocas_core::auth::DEFAULT_ADMIN.to_string(),
        record: UserRecord { password_hash },
    });
    match app.write(cmd).await {
        Ok(_) => {
            if generated {
                println!(
                    "nocas: created the administrator '{}' with password: {password}\n\
                     nocas: this password is shown only once; change it with \
                     PUT /nacos/v1/auth/users?username={}&newPassword=...",
                    nocas_core::auth::DEFAULT_ADMIN,
                    nocas_core::auth::DEFAULT_ADMIN,
                );
            }
            tracing::info!(
                user = nocas_core::auth::DEFAULT_ADMIN,
                generated,
                "initial administrator created"
            );
            Ok(())
        }
        Err(ApiError::Command(CommandError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A random password: 20 characters of letters and digits.
pub fn random_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nocas_core::auth::ResourceKind;

    fn settings() -> AuthSettings {
        AuthSettings {
            enabled: true,
            token_secret: Some("k".repeat(32)),
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..AuthSettings::default()
        }
    }

    #[test]
    fn hashes_verify_and_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = Auth::new(&settings(), dir.path()).unwrap();
        let h1 = a.hash("pw").unwrap();
        let h2 = a.hash("pw").unwrap();
        assert_ne!(h1, h2, "salted");
        assert!(h1.starts_with("$argon2id$"));
        assert!(a.verify_password("pw", &h1));
        assert!(!a.verify_password("pw2", &h1));
        assert!(!a.verify_password("pw", "not a hash"));
    }

    #[test]
    fn off_means_no_checks_and_on_means_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let state = AuthState::default();
        let need = Need::Access(
            vec![Resource::new("a", "g", ResourceKind::Config, "d")],
            Action::Read,
        );
        let off = Auth::new(&AuthSettings::default(), dir.path()).unwrap();
        assert_eq!(off.check(&state, None, &need), Ok(None));
        let on = Auth::new(&settings(), dir.path()).unwrap();
        assert_eq!(
            on.check(&state, None, &need),
            Err(Denied::Token(TokenError::Missing))
        );
        assert_eq!(on.check(&state, None, &Need::Public), Ok(None));
        // A valid token of a user that does not exist.
        let t = on.token_without_auth("ghost", crate::app::now_ms()).token;
        assert_eq!(
            on.check(&state, Some(&t), &Need::Authenticated),
            Err(Denied::Token(TokenError::Invalid))
        );
    }

    #[test]
    fn short_secret_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthSettings {
            token_secret: Some("short".into()),
            ..settings()
        };
        assert!(matches!(
            Auth::new(&s, dir.path()),
            Err(AuthSetupError::ShortSecret { .. })
        ));
    }
}
