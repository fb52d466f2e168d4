//! `/faults` on the admin port.
//!
//! Off (no `FAULTS_TOKEN`), every method answers 404. On, `GET` lists the
//! faults (one per line); `PUT` replaces them with the body's, `POST` adds
//! the body's, `DELETE` clears them, each only with the token as
//! `Authorization: Bearer` (401 without it) and without an `Origin` header
//! (403: the admin API is not for browsers, and a browser sends `Origin`
//! on every cross-site write; the `Authorization` header it would need is
//! not a simple-request header, so a cross-site page cannot send it without
//! a preflight this server never grants). A body that does not parse, or
//! more than [`MAX_FAULTS`] faults, is a 400 that says why; a body over
//! 4 KiB a 413.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use super::{Fault, Faults, MAX_FAULTS, parse_list};

/// Largest body of a change.
const BODY_LIMIT: usize = 4096;

/// Why a request to `/faults` was refused.
enum Refusal {
    /// No token, or another: 401.
    Unauthorized,
    /// A browser's request: 403.
    Browser,
    /// A body that does not parse, or too many faults: 400.
    Bad(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "changing faults takes the FAULTS_TOKEN as Authorization: Bearer\n",
            )
                .into_response(),
            Refusal::Browser => (
                StatusCode::FORBIDDEN,
                "a request with an Origin header (a browser's) may not change faults\n",
            )
                .into_response(),
            Refusal::Bad(message) => {
                (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
            }
        }
    }
}

type Answer = Result<String, Refusal>;

/// A change is allowed with the token and without an `Origin`.
fn authorize(faults: &Faults, headers: &HeaderMap) -> Result<(), Refusal> {
    if headers.contains_key(header::ORIGIN) {
        return Err(Refusal::Browser);
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if faults.authorizes(token) => Ok(()),
        _ => Err(Refusal::Unauthorized),
    }
}

fn listed(faults: &Faults) -> String {
    faults.list().iter().map(|f| format!("{f}\n")).collect()
}

fn parsed(body: &str) -> Result<Vec<Fault>, Refusal> {
    let list = parse_list(body).map_err(|e| Refusal::Bad(e.to_string()))?;
    if list.len() > MAX_FAULTS {
        return Err(Refusal::Bad(format!(
            "at most {MAX_FAULTS} faults may be in force"
        )));
    }
    Ok(list)
}

async fn list(State(faults): State<Faults>) -> String {
    listed(&faults)
}

async fn replace(State(faults): State<Faults>, headers: HeaderMap, body: String) -> Answer {
    authorize(&faults, &headers)?;
    faults
        .set(parsed(&body)?)
        .map_err(|e| Refusal::Bad(e.to_string()))?;
    Ok(listed(&faults))
}

async fn add(State(faults): State<Faults>, headers: HeaderMap, body: String) -> Answer {
    authorize(&faults, &headers)?;
    faults
        .add(parsed(&body)?)
        .map_err(|e| Refusal::Bad(e.to_string()))?;
    Ok(listed(&faults))
}

async fn clear(State(faults): State<Faults>, headers: HeaderMap) -> Answer {
    authorize(&faults, &headers)?;
    faults.clear();
    Ok(String::new())
}

/// The `/faults` routes of `faults`: live when its control is on, 404
/// otherwise.
pub fn admin_router(faults: Faults) -> axum::Router {
    if !faults.controlled() {
        let off = || async {
            (
                StatusCode::NOT_FOUND,
                "fault injection is off on this component (FAULTS_TOKEN is unset)\n",
            )
        };
        return axum::Router::new().route("/faults", any(off));
    }
    axum::Router::new()
        .route("/faults", get(list).put(replace).post(add).delete(clear))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(faults)
}
