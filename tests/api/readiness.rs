//! The gateway's readiness (`/readyz` on its admin listener) follows its backends.

use reqwest::StatusCode;

use crate::support::Api;

#[tokio::test]
async fn the_gateway_is_ready_once_every_backend_is_serving() {
    let api = Api::start().await;
    assert_eq!(
        api.readiness(StatusCode::OK).await,
        StatusCode::OK,
        "ready once every backend is SERVING"
    );
}

#[tokio::test]
async fn the_gateway_is_not_ready_once_a_backend_is_down() {
    let mut api = Api::start().await;
    api.stack.product.shut_down().await.unwrap();
    assert_eq!(
        api.readiness(StatusCode::SERVICE_UNAVAILABLE).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
