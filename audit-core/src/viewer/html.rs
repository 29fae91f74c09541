//! The pages' HTML: every recorded value escaped, cut and labelled.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::access::Access;
use crate::trail::{escape_text, is_redacted, time_text};

/// The most characters of one value a page shows; the rest is counted, not sent.
pub(super) const MAX_VALUE_CHARS: usize = 400;

/// Text escaped for HTML element content and quoted attribute values.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Recorded text for a page: invisible and reordering characters shown as escapes, cut
/// to [`MAX_VALUE_CHARS`], then HTML-escaped.
pub(super) fn shown(text: &str) -> String {
    esc(&escape_text(text, Some(MAX_VALUE_CHARS)))
}

/// One recorded value: redacted, erased and sealed values as labels, never their bytes.
pub(super) fn value(recorded: Option<&Json>) -> String {
    let tag = |class: &str, label: &str| format!(r#"<span class="tag {class}">{label}</span>"#);
    match recorded {
        None => tag("absent", "none"),
        Some(json) if is_redacted(json) => tag("redacted", "redacted"),
        Some(json) if is_erased(json) => tag("erased", "erased"),
        Some(json) if is_sealed(json) => tag("sealed", "personal (sealed)"),
        Some(Json::Null) => tag("null", "null"),
        Some(Json::String(text)) => format!(r#"<span class="text">{}</span>"#, shown(text)),
        Some(other) => format!("<code>{}</code>", shown(&other.to_string())),
    }
}

#[cfg(feature = "erasure")]
fn is_erased(json: &Json) -> bool {
    json.as_str() == Some(crate::erasure::ERASED)
}

#[cfg(not(feature = "erasure"))]
fn is_erased(_: &Json) -> bool {
    false
}

#[cfg(feature = "erasure")]
fn is_sealed(json: &Json) -> bool {
    crate::erasure::cipher::parse(json).is_some()
}

#[cfg(not(feature = "erasure"))]
fn is_sealed(_: &Json) -> bool {
    false
}

/// An old → new change: the old value struck through, the new one highlighted.
pub(super) fn change(old: Option<&Json>, new: Option<&Json>) -> String {
    format!(
        r#"<del>{}</del> <span class="arrow" aria-hidden="true">→</span> <ins>{}</ins>"#,
        value(old),
        value(new)
    )
}

/// An instant in UTC; the page's script adds the reader's local time on hover.
pub(super) fn time(at: DateTime<Utc>) -> String {
    format!(
        r#"<time datetime="{}">{}</time>"#,
        time_text(at),
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// An optional recorded text (actor), or a dash.
pub(super) fn maybe(text: Option<&str>) -> String {
    text.map_or_else(|| r#"<span class="tag null">none</span>"#.to_owned(), shown)
}

/// A context object as `key: value` pairs.
pub(super) fn context(json: Option<&Json>) -> String {
    match json {
        Some(Json::Object(map)) if !map.is_empty() => {
            let mut out = String::from(r#"<span class="context">"#);
            for (key, value) in map {
                let text = match value {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = write!(out, "<span>{}: {}</span> ", shown(key), shown(&text));
            }
            out.push_str("</span>");
            out
        }
        Some(Json::Object(_)) | None => String::new(),
        Some(other) => shown(&other.to_string()),
    }
}

/// The feed's address: the mount prefix itself (axum's `nest` matches `/audit`, not
/// `/audit/`), or `/` when the viewer is not nested.
pub(super) fn home(base: &str) -> String {
    if base.is_empty() {
        "/".to_owned()
    } else {
        base.to_owned()
    }
}

/// A whole page: the shared head (stylesheet and script from the viewer's own assets, no
/// inline script or style), the navigation, and `body`.
pub(super) fn page(base: &str, title: &str, access: &Access, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · audit trail</title>
<link rel="stylesheet" href="{base}/assets/viewer.css">
<script src="{base}/assets/viewer.js" defer></script>
</head>
<body>
<header><nav aria-label="Main"><a class="brand" href="{home}">Audit trail</a> <a href="{home}">Feed</a></nav><span class="who">Signed in as {actor}</span></header>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
        base = esc(base),
        home = esc(&home(base)),
        actor = shown(access.actor()),
    )
}

/// A page of its own for a refusal or an error, with the message escaped.
pub(super) fn message(base: &str, title: &str, text: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · audit trail</title>
<link rel="stylesheet" href="{base}/assets/viewer.css">
</head>
<body><main><h1>{title}</h1><p class="message">{text}</p><p><a href="{home}">Back to the feed</a></p></main></body>
</html>
"#,
        title = esc(title),
        base = esc(base),
        home = esc(&home(base)),
        text = shown(text),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let shown = value(Some(&json!("<script>alert(1)</script>\u{202e}")));
        assert!(!shown.contains("<script>"));
        assert!(shown.contains("&lt;script&gt;") && shown.contains("\\u{202e}"));
    }

    #[test]
    fn markers_are_labels_and_long_values_are_cut() {
        assert!(value(Some(&json!(crate::REDACTED))).contains("tag redacted"));
        assert!(value(None).contains("tag absent"));
        let long = "x".repeat(10 * MAX_VALUE_CHARS);
        let shown = value(Some(&json!(long)));
        assert!(shown.len() < 2 * MAX_VALUE_CHARS && shown.contains("bytes)"));
    }
}
