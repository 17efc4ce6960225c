//! Namespace operations.

use nocas_core::command::Command;
use nocas_core::error::{CommandError, ValidationError};
use nocas_core::names::NamespaceId;
use nocas_core::namespace::{DEFAULT_QUOTA, MAX_NAMESPACE_DESC_LEN, MAX_NAMESPACE_NAME_LEN};
use nocas_proto::http::NamespaceJson;

use crate::app::App;
use crate::error::ApiError;

/// All namespaces, public first, then custom ones by creation.
pub fn list(app: &App) -> Vec<NamespaceJson> {
    let state = app.node.state().read();
    let mut out = vec![NamespaceJson {
        namespace: String::new(),
        namespace_show_name: "public".into(),
        namespace_desc: "Default Namespace".into(),
        quota: DEFAULT_QUOTA,
        config_count: state.config_count_in(&NamespaceId::public()),
        kind: 0,
    }];
    let mut custom: Vec<_> = state.namespaces().iter().collect();
    custom.sort_by_key(|(id, r)| (r.created_ms, (*id).clone()));
    for (id, rec) in custom {
        out.push(NamespaceJson {
            namespace: id.to_string(),
            namespace_show_name: rec.name.clone(),
            namespace_desc: rec.desc.clone(),
            quota: rec.quota,
            config_count: state.config_count_in(id),
            kind: 2,
        });
    }
    out
}

/// One namespace.
pub fn get(app: &App, id: &NamespaceId) -> Result<NamespaceJson, ApiError> {
    let wanted = id.as_tenant();
    list(app)
        .into_iter()
        .find(|n| n.namespace == wanted)
        .ok_or_else(|| ApiError::Command(CommandError::NamespaceNotFound(id.to_string())))
}

/// Whether a namespace record exists (public always does).
pub fn exists(app: &App, id: &NamespaceId) -> bool {
    id.is_public() || app.node.state().read().namespaces().contains_key(id)
}

/// Validates a namespace display name (Nacos: no `@#$%^&*`).
pub fn check_name(raw: Option<&str>) -> Result<String, ValidationError> {
    let name = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ValidationError::Missing {
            field: "namespaceName",
        })?;
    if name.chars().count() > MAX_NAMESPACE_NAME_LEN {
        return Err(ValidationError::TooLong {
            field: "namespaceName",
            max: MAX_NAMESPACE_NAME_LEN,
        });
    }
    if name
        .chars()
        .any(|c| "@#$%^&*".contains(c) || c.is_control())
    {
        return Err(ValidationError::InvalidChars {
            field: "namespaceName",
            allowed: "characters other than @#$%^&*",
        });
    }
    Ok(name.to_string())
}

/// Validates a namespace description.
pub fn check_desc(raw: Option<&str>) -> Result<String, ValidationError> {
    let desc = raw.map(str::trim).unwrap_or("");
    if desc.chars().count() > MAX_NAMESPACE_DESC_LEN {
        return Err(ValidationError::TooLong {
            field: "namespaceDesc",
            max: MAX_NAMESPACE_DESC_LEN,
        });
    }
    Ok(desc.to_string())
}

/// Creates a namespace; a blank id gets a generated UUID. Returns the id.
pub async fn create(
    app: &App,
    id: Option<&str>,
    name: String,
    desc: String,
) -> Result<NamespaceId, ApiError> {
    let id = match id.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let id = NamespaceId::parse(Some(raw))?;
            if id.is_public() {
                return Err(ApiError::Command(CommandError::NamespaceExists(
                    raw.to_string(),
                )));
            }
            id
        }
        None => NamespaceId::parse(Some(&uuid::Uuid::new_v4().to_string()))?,
    };
    app.write(Command::CreateNamespace {
        id: id.clone(),
        name,
        desc,
    })
    .await?;
    Ok(id)
}

/// Renames a namespace.
pub async fn update(
    app: &App,
    id: NamespaceId,
    name: String,
    desc: String,
) -> Result<(), ApiError> {
    app.write(Command::UpdateNamespace { id, name, desc })
        .await?;
    Ok(())
}

/// Removes a namespace record (its data stays reachable by id, as in Nacos).
pub async fn delete(app: &App, id: NamespaceId) -> Result<(), ApiError> {
    app.write(Command::DeleteNamespace { id }).await?;
    Ok(())
}
