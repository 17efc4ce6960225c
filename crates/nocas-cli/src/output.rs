//! What commands print: tables for people, JSON or YAML for scripts.
//!
//! Owns formatting only. Results go to standard output; commands print
//! errors and progress on standard error themselves.

use serde_json::Value;
use yaml_rust2::{Yaml, YamlEmitter};

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns (or the plain value).
    #[default]
    Table,
    /// JSON, pretty printed.
    Json,
    /// YAML.
    Yaml,
}

/// A column: header and the JSON field (dots reach into objects).
pub type Column<'a> = (&'a str, &'a str);

/// Renders `v` as YAML.
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    let mut e = YamlEmitter::new(&mut out);
    e.multiline_strings(true);
    if e.dump(&to_yaml(v)).is_err() {
        return json(v);
    }
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_string();
    body + "\n"
}

/// Renders `v` as pretty JSON.
pub fn json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()) + "\n"
}

/// `v` as a YAML node.
pub fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        Value::Object(o) => Yaml::Hash(
            o.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

/// A YAML node as JSON (keys become strings; aliases and bad values null).
pub fn from_yaml(y: &Yaml) -> Value {
    match y {
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(r.clone())),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(a) => Value::Array(a.iter().map(from_yaml).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Real(r) => r.clone(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
    }
}

/// A field of `v` as text for a table cell (`a.b` reaches into objects).
pub fn cell(v: &Value, field: &str) -> String {
    let mut at = v;
    for part in field.split('.') {
        at = &at[part];
    }
    match at {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.replace(['\n', '\t'], " "),
        Value::Object(o) if o.is_empty() => "-".into(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// Aligned columns.
pub fn table(rows: &[Value], cols: &[Column<'_>]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|(_, f)| cell(r, f)).collect())
        .collect();
    let mut width: Vec<usize> = cols.iter().map(|(h, _)| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |items: Vec<&str>| {
        let mut s = String::new();
        for (i, (item, w)) in items.iter().zip(&width).enumerate() {
            if i + 1 == items.len() {
                s.push_str(item);
            } else {
                s.push_str(item);
                s.push_str(&" ".repeat(w - item.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(cols.iter().map(|(h, _)| *h).collect());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Prints rows in the chosen format.
pub fn print_rows(format: Format, rows: &[Value], cols: &[Column<'_>]) {
    let text = match format {
        Format::Table => table(rows, cols),
        Format::Json => json(&Value::Array(rows.to_vec())),
        Format::Yaml => yaml(&Value::Array(rows.to_vec())),
    };
    print!("{text}");
}

/// Prints one object: `field: value` lines for tables.
pub fn print_object(format: Format, v: &Value, cols: &[Column<'_>]) {
    let text = match format {
        Format::Table => {
            let w = cols.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
            cols.iter()
                .map(|(h, f)| format!("{h:<w$}  {}\n", cell(v, f)))
                .collect()
        }
        Format::Json => json(v),
        Format::Yaml => yaml(v),
    };
    print!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_reach_into_objects() {
        let rows = [
            json!({"id": "dev", "n": {"x": 1}, "m": {"a": "b"}}),
            json!({"id": "production", "n": {"x": 22}, "m": {}}),
        ];
        let t = table(&rows, &[("ID", "id"), ("X", "n.x"), ("META", "m")]);
        assert_eq!(
            t,
            "ID          X   META\ndev         1   a=b\nproduction  22  -\n"
        );
    }

    #[test]
    fn yaml_round_trips_through_json() {
        let v = json!({"a": [1, "two", {"b": null}], "c": true, "d": 1.5, "e": "x\ny"});
        let text = yaml(&v);
        let back = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        assert_eq!(from_yaml(&back[0]), v, "{text}");
    }
}
