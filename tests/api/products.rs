//! The catalog routes (list, filter, page, get) and the administrator's product routes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, problem};

#[tokio::test]
async fn catalog_routes_list_filter_page_and_get() {
    let api = Api::start().await;
    let admin = api.admin().await;
    for i in 0..3 {
        api.product(&admin, &format!("SKU-{i}"), 100, 5).await;
    }

    let page: Value = api
        .get("/api/v1/products?page_size=2", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let token = page["next_page_token"].as_str().unwrap();
    let last: Value = api
        .get(
            &format!("/api/v1/products?page_size=2&page_token={token}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last["next_page_token"].is_null());

    let found: Value = api
        .get("/api/v1/products?q=product%20sku-1&category=test", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["sku"], "SKU-1");
    let product = &found["items"][0];
    for key in [
        "id",
        "sku",
        "name",
        "description",
        "category",
        "image_url",
        "unit_price_cents",
        "currency",
        "available",
    ] {
        assert!(product.get(key).is_some(), "missing {key}");
    }

    let one = api
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(one.status(), StatusCode::OK);

    problem(
        api.get("/api/v1/products?page_size=0", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products?page_size=101", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products?page_size=abc", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products?page_token=forged", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        api.get("/api/v1/products/not-a-uuid", None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let missing = format!("/api/v1/products/{}", uuid::Uuid::new_v4());
    problem(api.get(&missing, None).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn admin_routes_create_update_and_adjust_stock() {
    let api = Api::start().await;
    let admin = api.admin().await;
    let shopper = api.guest().await;
    let new = json!({"sku": "NEW-1", "name": "New", "description": "", "category": "test",
                     "unit_price_cents": 500, "currency": "USD"});

    problem(
        api.post("/api/v1/products", None, new.clone()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    problem(
        api.post("/api/v1/products", Some(&shopper), new.clone())
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let created: Value = api
        .post("/api/v1/products", Some(&admin), new.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["available"], 0, "available defaults to 0");
    problem(
        api.post("/api/v1/products", Some(&admin), new).await,
        StatusCode::CONFLICT,
    )
    .await;
    let invalid = json!({"sku": "X", "name": "", "category": "test", "unit_price_cents": 1, "currency": "USD"});
    problem(
        api.post("/api/v1/products", Some(&admin), invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let wrong_type = json!({"sku": "X", "name": "n", "category": "t", "unit_price_cents": "a lot", "currency": "USD"});
    problem(
        api.post("/api/v1/products", Some(&admin), wrong_type).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let id = created["id"].as_str().unwrap();
    let patched = api
        .call(
            Method::PATCH,
            &format!("/api/v1/products/{id}"),
            Some(&admin),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(patched.json::<Value>().await.unwrap()["name"], "Renamed");

    let stock = format!("/api/v1/products/{id}/stock");
    let restocked: Value = api
        .post(&stock, Some(&admin), json!({"delta": 5}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(restocked["available"], 5);
    problem(
        api.post(&stock, Some(&admin), json!({"delta": -6})).await,
        StatusCode::CONFLICT,
    )
    .await;
    problem(
        api.post(&stock, Some(&admin), json!({"delta": 0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem(
        api.post(&stock, Some(&shopper), json!({"delta": 1})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}
