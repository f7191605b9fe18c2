//! `GET /api/ice-servers`: the ICE server list for clients that do not join a room (the
//! diagnostics page, the native probe) or that refresh credentials during a long call
//! (`docs/protocol.md` §15).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use signal::ErrorCode;

use super::switchboard::unix_now;
use super::ws::origin_allowed;
use super::AppState;

/// `GET /api/ice-servers[?token=T]`: `{"ice_servers":[...],"ttl":N}`, or 401 `bad-token` when
/// the server has room secrets and `token` is not a valid room token (any room, any role).
///
/// Cross-origin reads follow the `/ws` policy: allowed from any origin when no
/// `--allowed-origin` is configured, else from the listed ones.
pub(super) async fn ice_servers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut response = answer(&state, &headers, &query);
    if let Some(allow) = cors_origin(&state.cfg.allowed_origins, &headers) {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn answer(state: &AppState, headers: &HeaderMap, query: &[(String, String)]) -> Response {
    let secrets = &state.cfg.signal_secrets;
    if !secrets.is_empty() {
        let token = query
            .iter()
            .find(|(k, _)| k == "token")
            .map_or("", |(_, v)| v.as_str());
        if let Err(e) = signal::token::verify(secrets, token, unix_now()) {
            let body = serde_json::json!({
                "code": ErrorCode::BAD_TOKEN,
                "message": e.to_string(),
            });
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    // A random TURN REST user id per request, so that per-user TURN quotas do not lump all
    // API clients together.
    let user = format!("api-{:012x}", rand::random::<u64>() >> 16);
    let body = serde_json::json!({
        "ice_servers": state.ice.servers(host, &user, unix_now()),
        "ttl": state.ice.ttl_secs(),
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// The `Access-Control-Allow-Origin` value for this request, if any.
fn cors_origin(allowed: &[String], headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    if allowed.is_empty() {
        return Some(HeaderValue::from_static("*"));
    }
    origin_allowed(allowed, headers).then(|| origin.clone())
}
