//! Content checks per config type, so the console can show where a config
//! is malformed before it is published. Each check uses the format's own
//! parser; formats without a grammar to break (text, html) always pass.
//!
//! Owns nothing but the mapping from parser errors to a line and column;
//! it never decides whether content may be stored (the server accepts any
//! text, as Nacos does).

use serde::Serialize;

/// Where and why content does not parse as its type. Lines and columns
/// count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Line of the error.
    pub line: usize,
    /// Column of the error.
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

/// Checks `content` as a config of `kind` (Nacos's type names, any case).
pub fn check(kind: &str, content: &str) -> Result<(), Problem> {
    match kind.to_ascii_lowercase().as_str() {
        "json" => json(content),
        "yaml" | "yml" => yaml(content),
        "properties" => properties(content),
        "xml" => xml(content),
        "toml" => toml_doc(content),
        _ => Ok(()),
    }
}

fn json(content: &str) -> Result<(), Problem> {
    serde_json::from_str::<serde::de::IgnoredAny>(content)
        .map(|_| ())
        .map_err(|e| Problem {
            line: e.line().max(1),
            column: e.column().max(1),
            message: e.to_string(),
        })
}

fn yaml(content: &str) -> Result<(), Problem> {
    yaml_rust2::YamlLoader::load_from_str(content)
        .map(|_| ())
        .map_err(|e| Problem {
            line: e.marker().line().max(1),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })
}

fn properties(content: &str) -> Result<(), Problem> {
    java_properties::read(content.as_bytes())
        .map(|_| ())
        .map_err(|e| Problem {
            line: e.line_number().unwrap_or(1).max(1),
            column: 1,
            message: e.to_string(),
        })
}

fn xml(content: &str) -> Result<(), Problem> {
    roxmltree::Document::parse(content)
        .map(|_| ())
        .map_err(|e| Problem {
            line: e.pos().row as usize,
            column: e.pos().col as usize,
            message: e.to_string(),
        })
}

fn toml_doc(content: &str) -> Result<(), Problem> {
    content.parse::<toml::Table>().map(|_| ()).map_err(|e| {
        let mut at = e.span().map_or(0, |s| s.start).min(content.len());
        while !content.is_char_boundary(at) {
            at -= 1;
        }
        let before = &content[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Problem {
            line,
            column,
            message: e.message().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: &str, content: &str) -> (usize, usize) {
        let p = check(kind, content).expect_err("should not parse");
        assert!(!p.message.is_empty());
        (p.line, p.column)
    }

    #[test]
    fn valid_content_of_every_type_passes() {
        for (kind, content) in [
            ("json", "{\"a\": [1, 2]}"),
            ("yaml", "a:\n  b: 1\n"),
            ("properties", "a=1\nb: 2\n# c\n"),
            ("xml", "<a><b x=\"1\"/></a>"),
            ("toml", "[a]\nb = 1\n"),
            ("html", "<p>unclosed"),
            ("text", "{{{"),
            ("unknown", "<<<"),
        ] {
            assert_eq!(check(kind, content), Ok(()), "{kind}");
        }
    }

    #[test]
    fn errors_point_at_the_line() {
        assert_eq!(at("json", "{\n  \"a\": 1,\n  oops\n}").0, 3);
        assert_eq!(at("YAML", "a: 1\nb: [1, 2\nc: 3\n"), (3, 2));
        assert_eq!(at("xml", "<a>\n<b></a>").0, 2);
        assert_eq!(at("toml", "a = 1\nb = = 2\n").0, 2);
        assert_eq!(at("properties", "a=1\nb=\\u12\n"), (2, 1));
    }
}
