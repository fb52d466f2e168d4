//! Requests that once slipped through product-service: a reservation over
//! two currencies, a stock delta of `i64::MIN`, and an image URL that points
//! at another host while looking like a site path.

mod common;

use common::{buckets, create, line, new_product, start};
use shop_proto::product::{self as pb};
use tonic::Code;
use tonic_types::StatusExt as _;

#[tokio::test]
async fn a_reservation_over_two_currencies_is_refused_and_holds_nothing() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let mut eur = new_product("TEE", "Tee", "test", 10);
    eur.currency = "EUR".into();
    let tee = h.client.create_product(eur).await.unwrap().into_inner();

    let err = h
        .client
        .reserve_stock(pb::ReserveStockRequest {
            reservation_id: uuid::Uuid::new_v4().to_string(),
            lines: vec![line(&mug, 1), line(&tee, 1)],
            ttl_seconds: 0,
            commit: false,
        })
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let info = err.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "MIXED_CURRENCY");
    assert!(err.message().contains("USD") && err.message().contains("EUR"));
    // No STOCK violation: this is not a shortage.
    let failure = err.get_details_precondition_failure().unwrap();
    assert!(failure.violations.iter().all(|v| v.r#type == "CURRENCY"));
    assert_eq!(buckets(&h.db, &mug.id).await, (10, 0, 0, 10));
    assert_eq!(buckets(&h.db, &tee.id).await, (10, 0, 0, 10));
}

#[tokio::test]
async fn a_currency_change_between_two_reservations_is_refused_once_lines_mix() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;
    let tee = create(&mut h.client, "TEE", 10).await;
    h.client
        .update_product(pb::UpdateProductRequest {
            id: tee.id.clone(),
            currency: Some("EUR".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let err = h
        .client
        .reserve_stock(pb::ReserveStockRequest {
            reservation_id: uuid::Uuid::new_v4().to_string(),
            lines: vec![line(&mug, 1), line(&tee, 1)],
            ttl_seconds: 0,
            commit: false,
        })
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        err.get_details_error_info().unwrap().reason,
        "MIXED_CURRENCY"
    );
}

#[tokio::test]
async fn adjust_stock_by_i64_min_or_max_is_invalid_argument_not_a_panic() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;

    for delta in [i64::MIN, i64::MAX, i64::MIN + 1, 0] {
        let err = h
            .client
            .adjust_stock(pb::AdjustStockRequest {
                id: mug.id.clone(),
                delta,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{delta}: {err:?}");
        assert!(err.message().starts_with("delta:"), "{}", err.message());
    }

    // The service is still there and the stock untouched.
    assert_eq!(buckets(&h.db, &mug.id).await, (10, 0, 0, 10));
}

#[tokio::test]
async fn a_protocol_relative_image_url_is_invalid_argument_on_create_and_update() {
    let mut h = start().await;
    let mug = create(&mut h.client, "MUG", 10).await;

    for url in [
        "//evil.example/x.png",
        "/\\evil.example/x.png",
        "https:///x",
    ] {
        let mut request = new_product("HAT", "Hat", "test", 1);
        request.image_url = url.into();
        let created = h.client.create_product(request).await.unwrap_err();
        assert_eq!(created.code(), Code::InvalidArgument, "{url}");
        assert!(created.message().starts_with("image_url:"));

        let updated = h
            .client
            .update_product(pb::UpdateProductRequest {
                id: mug.id.clone(),
                image_url: Some(url.into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(updated.code(), Code::InvalidArgument, "{url}");
    }

    // A single-slash site path and an absolute URL still work.
    for url in ["/static/x.svg", "https://cdn.example.com/x.png"] {
        let updated = h
            .client
            .update_product(pb::UpdateProductRequest {
                id: mug.id.clone(),
                image_url: Some(url.into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.image_url, url);
    }
}
