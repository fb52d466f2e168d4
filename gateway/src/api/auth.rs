//! `/auth`: tokens for a new guest shopper and for the administrator.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Body;
use crate::auth::{ADMIN_USER_ID, Role};
use crate::error::{ApiError, ApiResult};
use crate::limits::ClientIp;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/guest", post(guest))
        .route("/auth/login", post(login))
}

/// A new guest shopper's token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct GuestToken {
    token: String,
    user_id: String,
    /// RFC 3339, UTC.
    expires_at: String,
}

/// Administrator credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// A logged-in user's token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct LoginToken {
    token: String,
    user_id: String,
    role: Role,
}

/// Creates a guest shopper.
#[utoipa::path(post, path = "/api/v1/auth/guest", tag = "auth",
    responses((status = 201, body = GuestToken)))]
pub(crate) async fn guest(State(state): State<AppState>) -> (StatusCode, Json<GuestToken>) {
    let user_id = Uuid::new_v4().to_string();
    let (token, expires) = state.auth.issue(&user_id, Role::Shopper);
    let body = GuestToken {
        token,
        user_id,
        expires_at: expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    (StatusCode::CREATED, Json(body))
}

/// Logs the administrator in.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = LoginToken), (status = 401, description = "bad credentials"),
        (status = 429, description = "too many attempts from this address")))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    Body(creds): Body<Credentials>,
) -> ApiResult<Json<LoginToken>> {
    let backoff = state.limits.logins().zip(ip.map(|Extension(ip)| ip.0));
    if let Some((backoff, ip)) = backoff {
        backoff.check(ip)?;
    }
    if !state.auth.is_admin(&creds.username, &creds.password) {
        if let Some((backoff, ip)) = backoff {
            backoff.failed(ip);
        }
        return Err(ApiError::unauthorized("bad username or password"));
    }
    if let Some((backoff, ip)) = backoff {
        backoff.succeeded(ip);
    }
    let (token, _) = state.auth.issue(ADMIN_USER_ID, Role::Admin);
    Ok(Json(LoginToken {
        token,
        user_id: ADMIN_USER_ID.into(),
        role: Role::Admin,
    }))
}
