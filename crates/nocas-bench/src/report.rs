//! Results: rows of named metrics, printed as markdown tables and written
//! as JSON; and the side-by-side report built from several result files
//! (medians of repeated runs, ratios against the peer and the ceiling).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::load::LoadResult;

/// One metric.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    /// Name with its unit (`ops_per_s`, `p99_ms`, `rss_mib`...).
    pub name: String,
    /// Value.
    pub value: f64,
}

/// One line of results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    /// Scenario (`register`, `list`, `push`...).
    pub scenario: String,
    /// Variant within it (`http`, `grpc`, `S=1000`...).
    pub variant: String,
    /// Metrics, in display order.
    pub metrics: Vec<Metric>,
}

impl Row {
    /// A row with no metrics yet.
    pub fn new(scenario: &str, variant: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            variant: variant.into(),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric.
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.metrics.push(Metric {
            name: name.into(),
            value,
        });
        self
    }

    /// A row from a load run: throughput, latency, errors.
    pub fn from_load(scenario: &str, variant: impl Into<String>, r: &LoadResult) -> Self {
        Self::new(scenario, variant)
            .with("ops_per_s", r.per_second)
            .with("p50_ms", r.latency.p50_ms)
            .with("p99_ms", r.latency.p99_ms)
            .with("ok", r.ok as f64)
            .with("errors", r.errors as f64)
    }

    /// A metric's value.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }
}

/// A result file: what was measured, against what.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The tool.
    pub tool: String,
    /// What the target is (`nocas`, `rnacos`, `ceiling`...).
    pub label: String,
    /// The target's HTTP address.
    pub server: String,
    /// Rows.
    pub rows: Vec<Row>,
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Markdown tables, one per scenario, columns from the rows' metrics.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < rows.len() {
        let scenario = &rows[i].scenario;
        let group: Vec<&Row> = rows[i..]
            .iter()
            .take_while(|r| &r.scenario == scenario)
            .collect();
        i += group.len();
        let mut cols: Vec<&str> = Vec::new();
        for r in &group {
            for m in &r.metrics {
                if !cols.contains(&m.name.as_str()) {
                    cols.push(&m.name);
                }
            }
        }
        let _ = writeln!(out, "\n### {scenario}\n");
        let _ = writeln!(out, "| variant | {} |", cols.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(cols.len()));
        for r in group {
            let cells: Vec<String> = cols
                .iter()
                .map(|c| r.get(c).map_or_else(|| "-".into(), fmt_value))
                .collect();
            let _ = writeln!(out, "| {} | {} |", r.variant, cells.join(" | "));
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians per (label, scenario, variant, metric) over repeated runs.
pub type Medians = BTreeMap<(String, String, String, String), f64>;

/// Medians of every metric across the reports of each label.
pub fn medians(reports: &[Report]) -> Medians {
    let mut all: BTreeMap<(String, String, String, String), Vec<f64>> = BTreeMap::new();
    for rep in reports {
        for r in &rep.rows {
            for m in &r.metrics {
                all.entry((
                    rep.label.clone(),
                    r.scenario.clone(),
                    r.variant.clone(),
                    m.name.clone(),
                ))
                .or_default()
                .push(m.value);
            }
        }
    }
    all.into_iter().map(|(k, v)| (k, median(v))).collect()
}

/// Counters that describe a run rather than measure it: left out of the
/// side-by-side table (they stay in the JSON).
const BOOKKEEPING: &[&str] = &["ok", "rounds", "pushes", "runs"];

/// Scenarios whose requests are plain HTTP reads, comparable with the
/// hello-world ceiling.
fn is_read(scenario: &str) -> bool {
    let name = scenario.split_once(':').map_or(scenario, |(_, s)| s);
    matches!(name, "list" | "config-get")
}

/// The side-by-side table: each metric of `ours` next to `peer`, with
/// the ratio, and against the ceiling: the same row measured against the
/// ceiling server (label `ceiling`; publishes without such a row against
/// the `publish` / `redb` row), throughput as a percentage and everything else as a
/// multiple; HTTP reads without such a row against the hello-world
/// (`ceiling` scenario, variant `http`).
pub fn compare(reports: &[Report], ours: &str, peer: &str, ceiling: &str) -> String {
    let med = medians(reports);
    let mut keys: Vec<(String, String, String)> = Vec::new();
    let mut order: Vec<(String, String, String)> = Vec::new();
    for rep in reports
        .iter()
        .filter(|r| r.label == ours || r.label == peer)
    {
        for r in &rep.rows {
            for m in r
                .metrics
                .iter()
                .filter(|m| !BOOKKEEPING.contains(&m.name.as_str()))
            {
                let k = (r.scenario.clone(), r.variant.clone(), m.name.clone());
                if !keys.contains(&k) {
                    keys.push(k.clone());
                    order.push(k);
                }
            }
        }
    }
    let get = |label: &str, k: &(String, String, String)| {
        med.get(&(label.to_string(), k.0.clone(), k.1.clone(), k.2.clone()))
            .copied()
    };
    // Rows of scenario `tool:x` (measured by another tool, e.g. `wrk:list`)
    // compare with that tool's `tool:ceiling` row; the others with
    // `ceiling`.
    let ceiling_of = |scenario: &str, metric: &str| {
        let name = match scenario.split_once(':') {
            Some((tool, _)) => format!("{tool}:ceiling"),
            None => "ceiling".to_string(),
        };
        med.get(&(ceiling.to_string(), name, "http".into(), metric.to_string()))
            .copied()
    };
    // The same row measured against the ceiling server (publishes without
    // one, from a ceiling server that kept nothing durable: against the
    // redb ceiling).
    let exact_ceiling = |k: &(String, String, String)| {
        let at = |variant: &str| {
            med.get(&(
                ceiling.to_string(),
                k.0.clone(),
                variant.to_string(),
                k.2.clone(),
            ))
            .copied()
        };
        at(&k.1).or_else(|| if k.0 == "publish" { at("redb") } else { None })
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | variant | metric | {ours} | {peer} | {ours} / {peer} | {ours} / ceiling |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for k in &order {
        let a = get(ours, k);
        let b = get(peer, k);
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        let vs_ceiling = match (a, exact_ceiling(k), ceiling_of(&k.0, &k.2)) {
            (Some(a), Some(c), _) if c > 0.0 && k.2 == "ops_per_s" => {
                format!("{:.0} %", a * 100.0 / c)
            }
            (Some(a), Some(c), _) if c > 0.0 => format!("{:.2}×", a / c),
            (Some(a), None, Some(c))
                if k.2 == "ops_per_s" && c > 0.0 && k.1 == "http" && is_read(&k.0) =>
            {
                format!("{:.0} %", a * 100.0 / c)
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {ratio} | {vs_ceiling} |",
            k.0,
            k.1,
            k.2,
            a.map_or_else(|| "-".into(), fmt_value),
            b.map_or_else(|| "-".into(), fmt_value),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(label: &str, ops: f64) -> Report {
        Report {
            tool: "nocas-bench".into(),
            label: label.into(),
            server: "x".into(),
            rows: vec![
                Row::new("list", "http")
                    .with("ops_per_s", ops)
                    .with("p99_ms", 1.5),
            ],
        }
    }

    #[test]
    fn markdown_and_comparison() {
        let md = markdown(&rep("nocas", 1000.0).rows);
        assert!(md.contains("| variant | ops_per_s | p99_ms |"), "{md}");
        assert!(md.contains("| http | 1000 | 1.50 |"), "{md}");
        let reports = vec![
            rep("nocas", 900.0),
            rep("nocas", 1000.0),
            rep("nocas", 5000.0),
            rep("rnacos", 500.0),
            Report {
                rows: vec![
                    Row::new("ceiling", "http").with("ops_per_s", 2000.0),
                    Row::new("wrk:ceiling", "http").with("ops_per_s", 4000.0),
                ],
                ..rep("ceiling", 0.0)
            },
            Report {
                rows: vec![Row::new("wrk:list", "http").with("ops_per_s", 3000.0)],
                ..rep("nocas", 0.0)
            },
        ];
        let mut reports = reports;
        reports.push(Report {
            rows: vec![
                Row::new("push", "S=10").with("p99_ms", 2.0),
                Row::new("publish", "redb").with("ops_per_s", 400.0),
            ],
            ..rep("ceiling", 0.0)
        });
        reports.push(Report {
            rows: vec![
                Row::new("push", "S=10").with("p99_ms", 3.0),
                Row::new("publish", "grpc").with("ops_per_s", 300.0),
            ],
            ..rep("nocas", 0.0)
        });
        let t = compare(&reports, "nocas", "rnacos", "ceiling");
        assert!(
            t.contains("| push | S=10 | p99_ms | 3 | - | - | 1.50× |"),
            "{t}"
        );
        assert!(
            t.contains("| publish | grpc | ops_per_s | 300 | - | - | 75 % |"),
            "{t}"
        );
        assert!(
            t.contains("| list | http | ops_per_s | 1000 | 500 | 2.00 | 50 % |"),
            "{t}"
        );
        assert!(
            t.contains("| wrk:list | http | ops_per_s | 3000 | - | - | 75 % |"),
            "{t}"
        );
        // A durable ceiling server's own publish row wins over redb's.
        reports.push(Report {
            rows: vec![Row::new("publish", "grpc").with("ops_per_s", 600.0)],
            ..rep("ceiling", 0.0)
        });
        let t = compare(&reports, "nocas", "rnacos", "ceiling");
        assert!(
            t.contains("| publish | grpc | ops_per_s | 300 | - | - | 50 % |"),
            "{t}"
        );
    }
}
