//! `/faults` on the admin port.

use super::{Fault, Faults, parse_list};

/// The admin routes that read and change `faults`: `GET /faults` lists
/// them (one per line), `PUT` replaces them with the body's, `POST` adds
/// the body's, `DELETE` clears them. A body that does not parse is a 400
/// that says why.
pub fn admin_router(faults: Faults) -> axum::Router {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;

    type Answer = Result<String, (StatusCode, String)>;
    fn listed(faults: &Faults) -> String {
        faults.list().iter().map(|f| format!("{f}\n")).collect()
    }
    fn parsed(body: &str) -> Result<Vec<Fault>, (StatusCode, String)> {
        parse_list(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("{e}\n")))
    }
    async fn list(State(faults): State<Faults>) -> String {
        listed(&faults)
    }
    async fn replace(State(faults): State<Faults>, body: String) -> Answer {
        faults.set(parsed(&body)?);
        Ok(listed(&faults))
    }
    async fn add(State(faults): State<Faults>, body: String) -> Answer {
        faults.add(parsed(&body)?);
        Ok(listed(&faults))
    }
    async fn clear(State(faults): State<Faults>) -> String {
        faults.clear();
        String::new()
    }
    axum::Router::new()
        .route("/faults", get(list).put(replace).post(add).delete(clear))
        .with_state(faults)
}
