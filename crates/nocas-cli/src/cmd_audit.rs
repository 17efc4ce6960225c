//! `nocas audit`: the server's audit trail of durable changes (Nocas's
//! `GET /nacos/v3/admin/core/audit`, administrators only), newest first.

use clap::Args;
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::{Global, output, pairs};

/// The route of the audit trail.
pub const AUDIT: &str = "/nacos/v3/admin/core/audit";

/// `nocas audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    g: Global,
    /// Only this kind: config, namespace, service, instance, user, role,
    /// permission, membership.
    #[arg(long)]
    kind: Option<String>,
    /// Only this operation (publish, delete, create, register, ...).
    #[arg(long)]
    op: Option<String>,
    /// Only changes made by this user.
    #[arg(long)]
    user: Option<String>,
    /// Only changes made from this client address.
    #[arg(long)]
    ip: Option<String>,
    /// Only targets containing this text (`public/DEFAULT_GROUP/app.yaml`).
    #[arg(long)]
    target: Option<String>,
    /// Only changes from this long ago on: `90s`, `30m`, `12h`, `7d`.
    #[arg(long)]
    since: Option<String>,
    /// Records per page.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Page (1 = newest).
    #[arg(long, default_value_t = 1)]
    page: u32,
}

/// Milliseconds in a duration such as `90s`, `30m`, `12h` or `7d`.
fn duration_ms(raw: &str) -> Result<i64> {
    let raw = raw.trim();
    let bad = || {
        CliError::Usage(format!(
            "--since {raw}: expected a number and s, m, h or d, e.g. 30m"
        ))
    };
    let (num, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let per = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(per).filter(|v| *v >= 0).ok_or_else(bad)
}

pub(crate) async fn run(c: AuditArgs) -> Result<u8> {
    let from = match &c.since {
        Some(s) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            Some(now - duration_ms(s)?)
        }
        None => None,
    };
    let api = c.g.connect().await?;
    let page = api
        .get(
            AUDIT,
            pairs![
                "kind" => c.kind.as_ref(),
                "op" => c.op.as_ref(),
                "user" => c.user.as_ref(),
                "ip" => c.ip.as_ref(),
                "target" => c.target.as_ref(),
                "from" => from,
                "pageNo" => c.page,
                "pageSize" => c.limit,
            ],
        )
        .await?;
    let rows: Vec<Value> = page["pageItems"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut r| {
            r["when"] = Value::String(crate::cmd_config::time(&r["time"]));
            r["who"] = Value::String(match r["user"].as_str() {
                Some(u) => format!("{u}@{}", r["ip"].as_str().unwrap_or("")),
                None => r["ip"].as_str().unwrap_or("").to_string(),
            });
            r
        })
        .collect();
    output::print_rows(
        c.g.output,
        &rows,
        &[
            ("TIME", "when"),
            ("WHO", "who"),
            ("VIA", "via"),
            ("KIND", "kind"),
            ("OP", "op"),
            ("TARGET", "target"),
            ("DETAIL", "detail"),
        ],
    );
    if matches!(c.g.output, output::Format::Table) {
        let total = page["totalCount"].as_u64().unwrap_or(0);
        eprintln!("{} of {total} records (page {})", rows.len(), c.page);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("90s").unwrap(), 90_000);
        assert_eq!(duration_ms("7d").unwrap(), 7 * 86_400_000);
        assert!(duration_ms("7w").is_err());
        assert!(duration_ms("").is_err());
    }
}
