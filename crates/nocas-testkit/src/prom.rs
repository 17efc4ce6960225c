//! Reading Prometheus expositions and the metric names PromQL queries use,
//! for tests that check what a server serves against what dashboards ask.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLine {
    /// Series name (`http_server_requests_seconds_count`).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Parses the sample lines of a text (or OpenMetrics) exposition; comment
/// lines are skipped. Panics on a malformed line.
pub fn parse(text: &str) -> Vec<SampleLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("malformed sample line: {line}"),
        };
        let mut labels = BTreeMap::new();
        let rest = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '}' => {
                        end = Some(i + 1);
                        break;
                    }
                    ',' | ' ' => {}
                    '=' => {
                        let Some((_, '"')) = chars.next() else {
                            panic!("malformed labels: {line}");
                        };
                        let mut value = String::new();
                        loop {
                            match chars.next() {
                                Some((_, '\\')) => {
                                    if let Some((_, e)) = chars.next() {
                                        value.push(match e {
                                            'n' => '\n',
                                            other => other,
                                        });
                                    }
                                }
                                Some((_, '"')) => break,
                                Some((_, ch)) => value.push(ch),
                                None => panic!("unterminated label value: {line}"),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    ch => key.push(ch),
                }
            }
            let end = end.unwrap_or_else(|| panic!("unterminated labels: {line}"));
            &body[end..]
        } else {
            rest
        };
        let value = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
        };
        out.push(SampleLine {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

const KEYWORDS_WITH_LABELS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &["bool", "and", "or", "unless", "offset", "atmodifier"];

/// The metric names a PromQL expression selects (functions, aggregation
/// keywords, label lists, matchers, ranges and literals left out).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let b: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let skip_group = |i: &mut usize, open: char, close: char| {
        let mut depth = 0;
        while *i < b.len() {
            let c = b[*i];
            if c == '"' {
                *i += 1;
                while *i < b.len() && b[*i] != '"' {
                    if b[*i] == '\\' {
                        *i += 1;
                    }
                    *i += 1;
                }
            } else if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
                if depth == 0 {
                    *i += 1;
                    return;
                }
            }
            *i += 1;
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == '{' {
            skip_group(&mut i, '{', '}');
        } else if c == '[' {
            skip_group(&mut i, '[', ']');
        } else if c == '"' || c == '\'' {
            let q = c;
            i += 1;
            while i < b.len() && b[i] != q {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            let mut j = i;
            while j < b.len() && b[j].is_whitespace() {
                j += 1;
            }
            let call = j < b.len() && b[j] == '(';
            if KEYWORDS_WITH_LABELS.contains(&word.as_str()) {
                if call {
                    i = j;
                    skip_group(&mut i, '(', ')');
                }
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                out.insert(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_not_functions_or_labels() {
        let got = metric_names(
            "histogram_quantile(0.99, sum(rate(http_server_requests_seconds_bucket{uri=~\"a|b\", instance=~\"$instance\"}[5m])) by (le, uri)) / sum(up) + process_threads",
        );
        let want: BTreeSet<String> = [
            "http_server_requests_seconds_bucket",
            "up",
            "process_threads",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn parses_samples() {
        let s = parse("# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"x\"} 3\ny 2.5\n# EOF\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels["b"], "q\"x");
        assert_eq!(s[1].value, 2.5);
    }
}
