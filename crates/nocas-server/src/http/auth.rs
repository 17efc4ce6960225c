//! Login and the management of users, roles and permissions, in Nacos's
//! shapes (`/nacos/v1/auth/...`).
//!
//! Handlers validate parameters, hash passwords off the async threads and
//! write through the Raft log; who may call them is decided by
//! `http::guard` before they run. Password hashes are never rendered.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use nocas_core::auth::{self as domain, Action, Permission, UserRecord};
use nocas_core::command::{AuthCommand, Command};
use nocas_core::error::ValidationError;
use nocas_proto::http::{Page, RestResult};
use serde::Serialize;

use crate::app::{AppRef, now_ms};
use crate::auth::LoginError;
use crate::error::{ApiError, V1, V1Result};
use crate::http::params::Params;
use crate::metrics::AuthFailure;

/// `POST /v1/auth/login`, `/v1/auth/users/login` and Nacos 3's
/// `/v3/auth/user/login` (the same answer: the Java client 3.x tries it
/// first).
pub async fn login(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    login_op(&app, &p).await.map_err(V1)
}

/// `POST /v3/auth/user/login`: the same answer; errors in the v3 envelope.
pub async fn login_v3(State(app): State<AppRef>, p: Params) -> crate::error::V2Reply<Response> {
    Ok(login_op(&app, &p).await?)
}

async fn login_op(app: &AppRef, p: &Params) -> Result<Response, ApiError> {
    let user = p.required("username")?.to_string();
    let now = now_ms();
    let login = if app.auth.enabled() {
        let password = p.raw("password").unwrap_or("").to_string();
        let (record, admin) = {
            let state = app.node.state().read();
            (
                state.auth().user(&user).cloned(),
                state.auth().is_admin(&user),
            )
        };
        let _turn = app.auth.hashing_turn().await;
        let ip = p
            .peer
            .map_or_else(|| p.client_ip.clone(), |ip| ip.to_string());
        let app2 = app.clone();
        let name = user.clone();
        tokio::task::spawn_blocking(move || {
            app2.auth
                .login(&name, record.as_ref(), admin, &password, &ip, now)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| {
            let kind = match e {
                LoginError::Internal => return ApiError::Internal(e.to_string()),
                LoginError::BadCredentials => AuthFailure::Login,
                LoginError::Locked => AuthFailure::Locked,
            };
            app.metrics.auth_failure(kind);
            app.security.record(kind, Some(&user), &user);
            ApiError::Forbidden(e.to_string())
        })?
    } else {
        app.auth.token_without_auth(&user, now)
    };
    let mut resp = Json(serde_json::json!({
        "accessToken": login.token,
        "tokenTtl": login.ttl_s,
        "globalAdmin": login.global_admin,
        "username": user,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", login.token)) {
        resp.headers_mut().insert(header::AUTHORIZATION, v);
    }
    Ok(resp)
}

fn ok(message: &str) -> Response {
    Json(RestResult {
        code: 200,
        message: Some(message.to_string()),
        data: (),
    })
    .into_response()
}

pub(crate) async fn hash(app: &AppRef, password: String) -> Result<String, ApiError> {
    if password.is_empty() {
        return Err(ValidationError::Missing { field: "password" }.into());
    }
    if password.len() > 1024 {
        return Err(ValidationError::Invalid {
            field: "password",
            reason: "longer than 1024 bytes".into(),
        }
        .into());
    }
    let _turn = app.auth.hashing_turn().await;
    let hashing = app.clone();
    tokio::task::spawn_blocking(move || hashing.auth.hash(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn page_of<T>(items: Vec<T>, p: &Params, max: usize) -> Result<Page<T>, ApiError> {
    let no = p.u64_opt("pageNo")?.unwrap_or(1).max(1) as usize;
    let size = (p.u64_opt("pageSize")?.unwrap_or(10).max(1) as usize).min(max);
    let total = items.len();
    let page_items = items.into_iter().skip((no - 1) * size).take(size).collect();
    Ok(Page {
        total_count: total,
        page_number: no,
        pages_available: total.div_ceil(size),
        page_items,
    })
}

/// A user as listed (never with its hash).
#[derive(Serialize)]
pub(crate) struct UserView {
    username: String,
}

/// `GET /v1/auth/users`: a page of users (`username` filters: exact, or
/// with `search=blur` a substring).
pub async fn list_users(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(users_page(&app, &p)?).into_response())
}

/// A page of users (`username` filters: exact, or with `search=blur` a
/// substring).
pub(crate) fn users_page(app: &AppRef, p: &Params) -> Result<Page<UserView>, ApiError> {
    let blur = p.get("search") == Some("blur");
    let filter = p.get("username").map(str::to_owned);
    let users: Vec<UserView> = {
        let state = app.node.state().read();
        state
            .auth()
            .users()
            .filter(|u| match &filter {
                None => true,
                Some(f) if blur => u.contains(f.as_str()),
                Some(f) => u == f,
            })
            .map(|u| UserView {
                username: u.to_string(),
            })
            .collect()
    };
    page_of(users, p, app.settings.limits.max_page_size)
}

/// `POST /v1/auth/users`: create a user.
pub async fn create_user(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&create_user_op(&app, &p).await?))
}

/// Does `create_user` (also for v3); returns the message Nacos answers.
pub(crate) async fn create_user_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let username = domain::validate_name("username", p.raw("username").unwrap_or(""))?;
    let password_hash = hash(app, p.raw("password").unwrap_or("").to_string()).await?;
    app.write(Command::Auth(AuthCommand::CreateUser {
        username,
        record: UserRecord { password_hash },
    }))
    .await?;
    Ok("create user ok!".to_string())
}

/// `PUT /v1/auth/users`: change a password (`newPassword`).
pub async fn update_user(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&update_user_op(&app, &p).await?))
}

/// Does `update_user` (also for v3); returns the message Nacos answers.
pub(crate) async fn update_user_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let username = domain::validate_name("username", p.raw("username").unwrap_or(""))?;
    let password_hash = hash(app, p.raw("newPassword").unwrap_or("").to_string()).await?;
    app.write(Command::Auth(AuthCommand::UpdateUser {
        username,
        record: UserRecord { password_hash },
    }))
    .await?;
    Ok("update user ok!".to_string())
}

/// `DELETE /v1/auth/users`.
pub async fn delete_user(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&delete_user_op(&app, &p).await?))
}

/// Does `delete_user` (also for v3); returns the message Nacos answers.
pub(crate) async fn delete_user_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let username = domain::validate_name("username", p.raw("username").unwrap_or(""))?;
    app.write(Command::Auth(AuthCommand::DeleteUser { username }))
        .await?;
    Ok("delete user ok!".to_string())
}

#[derive(Serialize)]
pub(crate) struct RoleView {
    role: String,
    username: String,
}

/// `GET /v1/auth/roles`: a page of (role, user) bindings, optionally of one
/// user (`username`) or role (`role`).
pub async fn list_roles(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(roles_page(&app, &p)?).into_response())
}

/// A page of (role, user) bindings, of one user or role if given.
pub(crate) fn roles_page(app: &AppRef, p: &Params) -> Result<Page<RoleView>, ApiError> {
    let user = p.get("username");
    let role = p.get("role");
    let items: Vec<RoleView> = {
        let state = app.node.state().read();
        state
            .auth()
            .roles()
            .filter(|(r, u)| user.is_none_or(|x| x == *u) && role.is_none_or(|x| x == *r))
            .map(|(r, u)| RoleView {
                role: r.to_string(),
                username: u.to_string(),
            })
            .collect()
    };
    page_of(items, p, app.settings.limits.max_page_size)
}

/// `POST /v1/auth/roles`: bind a role to a user.
pub async fn add_role(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&add_role_op(&app, &p).await?))
}

/// Does `add_role` (also for v3); returns the message Nacos answers.
pub(crate) async fn add_role_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let role = domain::validate_name("role", p.raw("role").unwrap_or(""))?;
    let username = domain::validate_name("username", p.raw("username").unwrap_or(""))?;
    app.write(Command::Auth(AuthCommand::BindRole { role, username }))
        .await?;
    Ok("add role ok!".to_string())
}

/// `DELETE /v1/auth/roles`: unbind a role from `username`, or remove the
/// role altogether.
pub async fn delete_role(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&delete_role_op(&app, &p).await?))
}

/// Does `delete_role` (also for v3); returns the message Nacos answers.
pub(crate) async fn delete_role_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let role = domain::validate_name("role", p.raw("role").unwrap_or(""))?;
    let username = p
        .get("username")
        .map(|u| domain::validate_name("username", u))
        .transpose()?;
    let msg = match &username {
        Some(u) => format!("delete role of user {u} ok!"),
        None => "delete role ok!".to_string(),
    };
    app.write(Command::Auth(AuthCommand::UnbindRole { role, username }))
        .await?;
    Ok(msg)
}

#[derive(Serialize)]
pub(crate) struct PermissionView {
    role: String,
    resource: String,
    action: &'static str,
}

/// `GET /v1/auth/permissions`: a page of permissions, optionally of a role.
pub async fn list_permissions(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(permissions_page(&app, &p)?).into_response())
}

/// A page of permissions, of one role if given.
pub(crate) fn permissions_page(app: &AppRef, p: &Params) -> Result<Page<PermissionView>, ApiError> {
    let role = p.get("role");
    let items: Vec<PermissionView> = {
        let state = app.node.state().read();
        state
            .auth()
            .permissions()
            .filter(|x| role.is_none_or(|r| r == x.role))
            .map(|x| PermissionView {
                role: x.role.clone(),
                resource: x.resource.clone(),
                action: x.action.as_str(),
            })
            .collect()
    };
    page_of(items, p, app.settings.limits.max_page_size)
}

fn permission(p: &Params) -> Result<Permission, ApiError> {
    Ok(Permission {
        role: domain::validate_name("role", p.raw("role").unwrap_or(""))?,
        resource: domain::validate_resource(p.raw("resource").unwrap_or(""))?,
        action: Action::parse(p.raw("action").unwrap_or(""))?,
    })
}

/// `POST /v1/auth/permissions`.
pub async fn add_permission(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&add_permission_op(&app, &p).await?))
}

/// Does `add_permission` (also for v3); returns the message Nacos answers.
pub(crate) async fn add_permission_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let perm = permission(p)?;
    app.write(Command::Auth(AuthCommand::Grant(perm))).await?;
    Ok("add permission ok!".to_string())
}

/// `DELETE /v1/auth/permissions`.
pub async fn delete_permission(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(ok(&delete_permission_op(&app, &p).await?))
}

/// Does `delete_permission` (also for v3); returns the message Nacos answers.
pub(crate) async fn delete_permission_op(app: &AppRef, p: &Params) -> Result<String, ApiError> {
    let perm = permission(p)?;
    app.write(Command::Auth(AuthCommand::Revoke(perm))).await?;
    Ok("delete permission ok!".to_string())
}
