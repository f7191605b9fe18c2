//! The web pages and the client library, embedded from `web/` at build time.
//!
//! `/` serves `index.html`; `/call` and `/call.html` both serve `call.html`. Every response
//! says `Cache-Control: no-cache` (browsers revalidate with the `ETag`, so a new binary's
//! pages are picked up at once) and carries an explicit content type.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// `web/` at the workspace root (rust-embed resolves a relative folder from this crate's
/// manifest directory).
#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
struct Web;

/// The fallback route: a file from `web/`, or 404.
pub(super) async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let Some(name) = resolve(uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let Some(file) = Web::get(&name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&file.metadata.sha256_hash()[..16])
    );
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            common,
            [(header::ETAG, etag_value)],
        )
            .into_response();
    }
    (
        common,
        [
            (header::CONTENT_TYPE, content_type(&name)),
            (header::ETAG, etag_value),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

/// The embedded file a request path names: `/` and `/dir/` are their `index.html`, and a
/// name without an extension is an `.html` page. Paths that try to leave `web/` name nothing.
fn resolve(path: &str) -> Option<String> {
    let path = path.strip_prefix('/')?;
    if path
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.contains('\\'))
    {
        return None;
    }
    if path.is_empty() || path.ends_with('/') {
        return Some(format!("{path}index.html"));
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    if last.contains('.') || Web::get(path).is_some() {
        return Some(path.to_owned());
    }
    Some(format!("{path}.html"))
}

fn content_type(name: &str) -> HeaderValue {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let fixed = match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "txt" | "md" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "",
    };
    if !fixed.is_empty() {
        return HeaderValue::from_static(fixed);
    }
    let guess = mime_guess::from_path(name).first_or_octet_stream();
    HeaderValue::from_str(guess.essence_str())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_embedded_names() {
        assert_eq!(resolve("/").as_deref(), Some("index.html"));
        assert_eq!(resolve("/call").as_deref(), Some("call.html"));
        assert_eq!(resolve("/call.html").as_deref(), Some("call.html"));
        assert_eq!(resolve("/rendezvous.js").as_deref(), Some("rendezvous.js"));
        assert_eq!(resolve("/docs/").as_deref(), Some("docs/index.html"));
        for bad in ["/../Cargo.toml", "/a/../../x", "/./x", "/a\\b", "nope"] {
            assert_eq!(resolve(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.bin"), "application/octet-stream");
    }
}
