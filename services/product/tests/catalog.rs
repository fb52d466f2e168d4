//! Catalog over real gRPC: listing, pagination, filters, create, update,
//! stock adjustments and the errors bad input gets.

mod common;

use std::collections::HashSet;

use common::{create, new_product, start};
use shop_proto::product as pb;
use tonic::Code;

#[tokio::test]
async fn pagination_walks_every_product_once_in_name_order() {
    let mut h = start().await;
    for i in 0..23 {
        // Duplicate names make the id tie-breaker matter.
        let name = format!("Item {:02}", i / 2);
        h.client
            .create_product(new_product(&format!("SKU-{i}"), &name, "test", 1))
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = h
            .client
            .list_products(pb::ListProductsRequest {
                page_size: 5,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.products.len() <= 5);
        seen.extend(page.products.into_iter().map(|p| (p.name, p.id)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }

    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 23);
    assert_eq!(
        seen.iter().map(|(_, id)| id).collect::<HashSet<_>>().len(),
        23,
        "no duplicates"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(
        seen.iter().map(|s| &s.0).collect::<Vec<_>>(),
        sorted.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn category_and_text_filters_narrow_the_listing() {
    let mut h = start().await;
    let mut req = new_product("MUG-1", "Blue Mug", "kitchen", 1);
    req.description = "Holds COFFEE".into();
    h.client.create_product(req).await.unwrap();
    h.client
        .create_product(new_product("BOOK-1", "Coffee Table Book", "books", 1))
        .await
        .unwrap();
    h.client
        .create_product(new_product("BOOK-2", "Rust 100% safe", "books", 1))
        .await
        .unwrap();

    let list = |category: &str, query: &str| pb::ListProductsRequest {
        category: category.into(),
        query: query.into(),
        ..Default::default()
    };
    let names = |resp: pb::ListProductsResponse| {
        resp.products
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
    };

    let books = h
        .client
        .list_products(list("books", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(books), ["Coffee Table Book", "Rust 100% safe"]);

    // Case-insensitive, on name or description.
    let coffee = h
        .client
        .list_products(list("", "coffee"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(coffee), ["Blue Mug", "Coffee Table Book"]);

    let both = h
        .client
        .list_products(list("books", "coffee"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(both), ["Coffee Table Book"]);

    // `%` is a character, not a wildcard.
    let percent = h
        .client
        .list_products(list("", "0%"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(percent), ["Rust 100% safe"]);
    let none = h
        .client
        .list_products(list("", "%x%"))
        .await
        .unwrap()
        .into_inner();
    assert!(none.products.is_empty());
}

#[tokio::test]
async fn bad_list_arguments_are_invalid_argument_naming_the_field() {
    let mut h = start().await;
    for i in 0..3 {
        create(&mut h.client, &format!("P-{i}"), 1).await;
    }
    let err = h
        .client
        .list_products(pb::ListProductsRequest {
            page_size: 101,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("page_size"), "{}", err.message());

    let forged = h
        .client
        .list_products(pb::ListProductsRequest {
            page_token: "eyJuYW1lIjoiYSJ9.AAAA".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::InvalidArgument);
    assert!(
        forged.message().contains("page_token"),
        "{}",
        forged.message()
    );

    // A real token, replayed with other filters, is refused too.
    let page = h
        .client
        .list_products(pb::ListProductsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let other_filters = h
        .client
        .list_products(pb::ListProductsRequest {
            page_size: 1,
            category: "books".into(),
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(other_filters.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn get_and_batch_get_return_products_and_report_unknown_ids() {
    let mut h = start().await;
    let a = create(&mut h.client, "A", 3).await;
    let b = create(&mut h.client, "B", 4).await;

    let got = h
        .client
        .get_product(pb::GetProductRequest { id: a.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, a);

    let unknown = uuid::Uuid::new_v4().to_string();
    let batch = h
        .client
        .batch_get_products(pb::BatchGetProductsRequest {
            ids: vec![b.id.clone(), unknown.clone(), a.id.clone(), b.id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        batch.products.iter().map(|p| &p.sku).collect::<Vec<_>>(),
        ["B", "A"]
    );
    assert_eq!(batch.not_found_ids, std::slice::from_ref(&unknown));

    let missing = h
        .client
        .get_product(pb::GetProductRequest { id: unknown })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let malformed = h
        .client
        .get_product(pb::GetProductRequest {
            id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert!(
        malformed.message().starts_with("id:"),
        "{}",
        malformed.message()
    );
}

#[tokio::test]
async fn create_validates_every_field_and_refuses_a_duplicate_sku() {
    let mut h = start().await;
    let created = h
        .client
        .create_product(new_product("DUP", "Thing", "misc", 7))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.available, 7);
    assert_eq!(created.image_url, "/images/products/placeholder.svg");

    let dup = h
        .client
        .create_product(new_product("DUP", "Other", "misc", 1))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    type Mutation = Box<dyn Fn(&mut pb::CreateProductRequest)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("sku", Box::new(|r| r.sku = "has space".into())),
        ("name", Box::new(|r| r.name = String::new())),
        ("name", Box::new(|r| r.name = "nul\u{0}byte".into())),
        ("category", Box::new(|r| r.category = "x".repeat(65))),
        ("currency", Box::new(|r| r.currency = "usd".into())),
        ("unit_price_minor", Box::new(|r| r.unit_price_minor = -1)),
        ("initial_stock", Box::new(|r| r.initial_stock = -5)),
        (
            "image_url",
            Box::new(|r| r.image_url = "javascript:alert(1)".into()),
        ),
    ];
    for (field, mutate) in cases {
        let mut req = new_product("NEW", "New", "misc", 1);
        mutate(&mut req);
        let err = h.client.create_product(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let mut h = start().await;
    let p = create(&mut h.client, "UPD", 2).await;
    create(&mut h.client, "TAKEN", 2).await;

    let updated = h
        .client
        .update_product(pb::UpdateProductRequest {
            id: p.id.clone(),
            name: Some("Renamed".into()),
            unit_price_minor: Some(999),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.name.as_str(), updated.unit_price_minor),
        ("Renamed", 999)
    );
    assert_eq!(
        (updated.sku.as_str(), updated.description.as_str()),
        (p.sku.as_str(), p.description.as_str())
    );

    let taken = h
        .client
        .update_product(pb::UpdateProductRequest {
            id: p.id.clone(),
            sku: Some("TAKEN".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);

    let missing = h
        .client
        .update_product(pb::UpdateProductRequest {
            id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn stock_adjustments_restock_and_write_off_but_never_below_zero() {
    let mut h = start().await;
    let p = create(&mut h.client, "STK", 5).await;
    let adjust = |delta| pb::AdjustStockRequest {
        id: p.id.clone(),
        delta,
    };

    assert_eq!(
        h.client
            .adjust_stock(adjust(10))
            .await
            .unwrap()
            .into_inner()
            .available,
        15
    );
    assert_eq!(
        h.client
            .adjust_stock(adjust(-15))
            .await
            .unwrap()
            .into_inner()
            .available,
        0
    );

    let below = h.client.adjust_stock(adjust(-1)).await.unwrap_err();
    assert_eq!(below.code(), Code::FailedPrecondition);
    let zero = h.client.adjust_stock(adjust(0)).await.unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument);
    assert_eq!(common::buckets(&h.db, &p.id).await, (0, 0, 0, 0));
}

#[tokio::test]
async fn concurrent_write_offs_never_take_stock_below_zero() {
    let mut h = start().await;
    let p = create(&mut h.client, "RACE", 10).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mut client = h.client.clone();
            let id = p.id.clone();
            tokio::spawn(async move {
                client
                    .adjust_stock(pb::AdjustStockRequest { id, delta: -1 })
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code(), Code::FailedPrecondition),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(common::buckets(&h.db, &p.id).await, (0, 0, 0, 0));
}
