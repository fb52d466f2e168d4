//! Errors as RFC 9457 problem details (`application/problem+json`), and the
//! one table that maps gRPC status codes to HTTP.
//!
//! Internal details never leak: a backend's INTERNAL or UNKNOWN becomes a 500
//! whose detail says only "internal error", and the cause is logged once, here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use shop_proto::names::rejection;
use tonic::Code;
use tonic_types::StatusExt as _;

/// Media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An HTTP error with its problem document.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    /// Human-readable explanation of this occurrence.
    pub(crate) detail: String,
    /// Problem type URI; `about:blank` when the status says it all.
    pub(crate) kind: &'static str,
    /// Extension members (e.g. the short `items` of a stock problem).
    pub(crate) extensions: Map<String, Value>,
    /// Seconds for `Retry-After` (429, 503).
    pub(crate) retry_after: Option<u64>,
    /// The gRPC code behind it, so a handler can refine the mapping.
    pub(crate) grpc_code: Option<Code>,
}

/// Result of a handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A problem with a status and a detail.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            kind: "about:blank",
            extensions: Map::new(),
            retry_after: None,
            grpc_code: None,
        }
    }

    /// 400.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// Where a request body field was invalid the contract says 422, not 400.
    pub(crate) fn body_invalid_is_422(mut self) -> Self {
        if self.grpc_code == Some(Code::InvalidArgument) {
            self.status = StatusCode::UNPROCESSABLE_ENTITY;
        }
        self
    }

    /// The mapping from a backend's gRPC status.
    pub(crate) fn from_grpc(status: tonic::Status) -> Self {
        let code = status.code();
        let http = match code {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => StatusCode::CONFLICT,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable | Code::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            // No service answers OUT_OF_RANGE; tonic's client does, for an
            // answer over its size limit, with a message of its internals.
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss | Code::OutOfRange => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut error = if http == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = ?code, message = status.message(), "backend failed");
            Self::new(http, "internal error")
        } else {
            Self::new(http, status.message())
        };
        error.grpc_code = Some(code);
        match code {
            Code::Unavailable | Code::Cancelled => {
                error.detail = "a backend service is unavailable; retry shortly".into();
                error.retry_after = Some(1);
            }
            Code::DeadlineExceeded => {
                error.detail = "a backend service did not answer in time".into()
            }
            // A backend out of capacity (its database full): back off.
            Code::ResourceExhausted => error.retry_after = Some(1),
            _ => {}
        }
        // Checkout rejections name their reason; short lines come along.
        if let Some(info) = status.get_details_error_info() {
            match info.reason.as_str() {
                rejection::EMPTY_CART => {
                    error.status = StatusCode::UNPROCESSABLE_ENTITY;
                    error.kind = "/problems/empty-cart";
                }
                rejection::INSUFFICIENT_STOCK => error.kind = "/problems/insufficient-stock",
                _ => {}
            }
        }
        if let Some(failure) = status.get_details_precondition_failure() {
            let items: Vec<Value> = failure
                .violations
                .iter()
                .filter(|v| v.r#type == shop_proto::names::STOCK_VIOLATION)
                .map(|v| json!({"product_id": v.subject, "detail": v.description}))
                .collect();
            if !items.is_empty() {
                error.kind = "/problems/insufficient-stock";
                error.extensions.insert("items".into(), Value::Array(items));
            }
        }
        if code == Code::Aborted {
            error.kind = "/problems/checkout-in-progress";
        }
        error
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self::from_grpc(status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.kind));
        body.insert(
            "title".into(),
            json!(self.status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.extend(self.extensions);
        let mut response = (self.status, Value::Object(body).to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        // 400 malformed JSON, 415 wrong content type, 422 wrong shape, 413 too large.
        Self::new(rejection.status(), rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<axum::extract::rejection::FormRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::FormRejection) -> Self {
        Self::new(rejection.status(), rejection.body_text())
    }
}

/// Turns any error response that is not already a problem document (a 413
/// from the body limit, a timeout, a 404 of an unknown route) into one, so
/// clients see one error format everywhere.
pub(crate) async fn problem_for_every_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with(PROBLEM_JSON) || content_type.starts_with("text/html") {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body larger than 1 MiB".to_string(),
        StatusCode::NOT_FOUND => "no such resource".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this resource".to_string(),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            "the request took too long".to_string()
        }
        StatusCode::INTERNAL_SERVER_ERROR => "internal error".to_string(),
        other => other.canonical_reason().unwrap_or("error").to_string(),
    };
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let mut problem = ApiError::new(status, detail).into_response();
    if let Some(value) = retry_after {
        problem.headers_mut().insert(header::RETRY_AFTER, value);
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_answer_over_the_size_limit_is_an_internal_error_that_names_nothing() {
        let status = tonic::Status::out_of_range(
            "Error, decoded message length too large: found 4540000 bytes, the limit is: 4194304 bytes",
        );
        let error = ApiError::from_grpc(status);
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.detail, "internal error");
    }
}
