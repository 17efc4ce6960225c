//! Instance and service metadata: a string map, parsed from the JSON object
//! (or Nacos's legacy `k=v,k=v` list) clients send, within explicit limits.

use std::collections::BTreeMap;

use crate::error::ValidationError;

/// Metadata of an instance, cluster or service.
pub type Metadata = BTreeMap<String, String>;

/// Size limits on a metadata map.
#[derive(Debug, Clone, Copy)]
pub struct MetadataLimits {
    /// Total bytes of all keys and values.
    pub max_bytes: usize,
    /// Number of entries.
    pub max_entries: usize,
}

impl Default for MetadataLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_entries: 256,
        }
    }
}

impl MetadataLimits {
    /// Checks a parsed map against the limits.
    pub fn check(&self, field: &'static str, md: &Metadata) -> Result<(), ValidationError> {
        if md.len() > self.max_entries {
            return Err(ValidationError::Invalid {
                field,
                reason: format!("has more than {} entries", self.max_entries),
            });
        }
        let bytes: usize = md.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > self.max_bytes {
            return Err(ValidationError::Invalid {
                field,
                reason: format!("is larger than {} bytes", self.max_bytes),
            });
        }
        Ok(())
    }
}

/// Parses metadata: a JSON object whose values are strings, numbers or
/// booleans (stored as strings), or the legacy `k=v,k=v` form. Empty input
/// is an empty map.
pub fn parse_metadata(
    field: &'static str,
    raw: Option<&str>,
    limits: &MetadataLimits,
) -> Result<Metadata, ValidationError> {
    let s = raw.map(str::trim).unwrap_or("");
    if s.is_empty() {
        return Ok(Metadata::new());
    }
    if s.len() > limits.max_bytes.saturating_mul(2).saturating_add(1024) {
        return Err(ValidationError::Invalid {
            field,
            reason: format!("is larger than {} bytes", limits.max_bytes),
        });
    }
    let md = if s.starts_with('{') || s.starts_with('[') || s.starts_with('"') {
        from_json(field, s)?
    } else {
        from_pairs(field, s)?
    };
    limits.check(field, &md)?;
    Ok(md)
}

/// Converts a JSON value that must be an object into metadata.
pub fn from_json_value(
    field: &'static str,
    value: &serde_json::Value,
) -> Result<Metadata, ValidationError> {
    let obj = match value {
        serde_json::Value::Object(obj) => obj,
        serde_json::Value::Null => return Ok(Metadata::new()),
        _ => {
            return Err(ValidationError::Invalid {
                field,
                reason: "must be a JSON object".into(),
            });
        }
    };
    let mut md = Metadata::new();
    for (k, v) in obj {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => String::new(),
            _ => {
                return Err(ValidationError::Invalid {
                    field,
                    reason: format!("value of '{k}' must be a string"),
                });
            }
        };
        md.insert(k.clone(), v);
    }
    Ok(md)
}

fn from_json(field: &'static str, s: &str) -> Result<Metadata, ValidationError> {
    let value: serde_json::Value =
        serde_json::from_str(s).map_err(|e| ValidationError::Invalid {
            field,
            reason: format!("is not a valid JSON object: {e}"),
        })?;
    from_json_value(field, &value)
}

fn from_pairs(field: &'static str, s: &str) -> Result<Metadata, ValidationError> {
    let mut md = Metadata::new();
    for pair in s.split(',') {
        if pair.trim().is_empty() {
            continue;
        }
        match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                md.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => {
                return Err(ValidationError::Invalid {
                    field,
                    reason: "must be a JSON object (or k=v,k=v)".into(),
                });
            }
        }
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_pairs() {
        let l = MetadataLimits::default();
        let md = parse_metadata("metadata", Some(r#"{"a":"1","b":2,"c":true}"#), &l).unwrap();
        assert_eq!(md["b"], "2");
        assert_eq!(md["c"], "true");
        let md = parse_metadata("metadata", Some("a=1, b=2"), &l).unwrap();
        assert_eq!(md["b"], "2");
        assert!(parse_metadata("metadata", None, &l).unwrap().is_empty());
    }

    #[test]
    fn rejects_non_objects() {
        let l = MetadataLimits::default();
        for bad in ["notjson", "[1,2]", "\"s\"", "{\"a\":{}}", "{bad", "=x"] {
            assert!(parse_metadata("metadata", Some(bad), &l).is_err(), "{bad}");
        }
    }

    #[test]
    fn enforces_limits() {
        let l = MetadataLimits {
            max_bytes: 10,
            max_entries: 2,
        };
        assert!(parse_metadata("metadata", Some(r#"{"a":"1","b":"2","c":"3"}"#), &l).is_err());
        assert!(parse_metadata("metadata", Some(r#"{"a":"12345678901"}"#), &l).is_err());
    }
}
