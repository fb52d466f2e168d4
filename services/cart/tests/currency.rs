//! A cart holds one currency: under concurrent adds, after an admin changes
//! a product's currency, and after it is emptied. Real cart-service,
//! product-service and PostgreSQL.

mod common;

use shop_proto::cart::{self as pb};
use shop_proto::product::{self as product_pb};
use tonic::Code;
use uuid::Uuid;

use common::{Harness, start};

impl Harness {
    /// What an admin PATCH of the currency does.
    async fn change_currency(&mut self, product: &product_pb::Product, currency: &str) {
        self.products
            .update_product(product_pb::UpdateProductRequest {
                id: product.id.clone(),
                currency: Some(currency.into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn concurrent_adds_in_two_currencies_never_mix_the_cart() {
    let mut h = start().await;
    let mut usd = Vec::new();
    let mut eur = Vec::new();
    for i in 0..4 {
        usd.push(h.product_in(&format!("USD-{i}"), 100, "USD").await);
        eur.push(h.product_in(&format!("EUR-{i}"), 100, "EUR").await);
    }

    for round in 0..8 {
        let user = format!("shopper-{round}");
        // Act: eight adds at once, half in each currency, all before any commits.
        let adds = usd.iter().zip(&eur).flat_map(|(u, e)| [u, e]).map(|p| {
            let (mut cart, user, id, currency) = (
                h.cart.clone(),
                user.clone(),
                p.id.clone(),
                p.currency.clone(),
            );
            tokio::spawn(async move {
                let result = cart
                    .add_item(pb::AddItemRequest {
                        user_id: user,
                        product_id: id,
                        quantity: 1,
                    })
                    .await;
                let result = result
                    .map(|_| ())
                    .map_err(|s| (s.code(), s.message().to_string()));
                (currency, result)
            })
        });
        let results: Vec<(String, Result<(), Refusal>)> = futures_join(adds).await;

        // Assert: one currency won; every add of the other one was refused
        // as FAILED_PRECONDITION naming the winner, never INTERNAL.
        let cart = h.get(&user).await.expect("the cart prices in one currency");
        assert!(!cart.items.is_empty());
        for (currency, result) in &results {
            match result {
                Ok(()) => assert_eq!(*currency, cart.currency, "round {round}: {results:?}"),
                Err((code, message)) => {
                    assert_eq!(*code, Code::FailedPrecondition, "round {round}");
                    let winner = format!("the cart holds items priced in {};", cart.currency);
                    assert!(message.starts_with(&winner), "round {round}: {message}");
                }
            }
        }
        let accepted = results.iter().filter(|(_, r)| r.is_ok()).count();
        assert_eq!(cart.items.len(), accepted, "round {round}");
        assert_eq!(cart.subtotal_minor, 100 * accepted as i64);
    }
}

/// A refused add: its status code and message.
type Refusal = (Code, String);

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_product_that_changed_currency_makes_the_cart_failed_precondition_not_a_wrong_total() {
    let mut h = start().await;
    let mug = h.product_in("MUG", 1200, "USD").await;
    let tee = h.product_in("TEE", 2500, "USD").await;
    h.add("alice", &mug.id, 1).await.unwrap();
    h.add("alice", &tee.id, 1).await.unwrap();

    h.change_currency(&tee, "EUR").await;
    let err = h.get("alice").await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("MUG in USD"), "{}", err.message());
    assert!(err.message().contains("TEE in EUR"), "{}", err.message());
    // Adding more of either currency is refused as well.
    assert_eq!(
        h.add("alice", &mug.id, 1).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // The shopper can fix it: remove one side and the cart prices again.
    let removed = h
        .cart
        .remove_item(pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: tee.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.currency, "USD");
    assert_eq!(removed.subtotal_minor, 1200);
}

#[tokio::test]
async fn a_cart_whose_products_all_moved_currency_takes_the_new_one() {
    let mut h = start().await;
    let mug = h.product_in("MUG", 1200, "USD").await;
    let tee = h.product_in("TEE", 2500, "EUR").await;
    h.add("alice", &mug.id, 1).await.unwrap();

    h.change_currency(&mug, "EUR").await;
    let cart = h.add("alice", &tee.id, 1).await.unwrap();

    assert_eq!(cart.currency, "EUR");
    assert_eq!(cart.subtotal_minor, 3700);
}

#[tokio::test]
async fn an_emptied_cart_takes_another_currency() {
    let mut h = start().await;
    let mug = h.product_in("MUG", 1200, "USD").await;
    let tee = h.product_in("TEE", 2500, "EUR").await;
    let hat = h.product_in("HAT", 900, "GBP").await;
    h.add("alice", &mug.id, 1).await.unwrap();

    h.cart
        .clear_cart(pb::ClearCartRequest {
            user_id: "alice".into(),
        })
        .await
        .unwrap();
    let after_clear = h.add("alice", &tee.id, 1).await.unwrap();
    h.cart
        .remove_item(pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: tee.id.clone(),
        })
        .await
        .unwrap();
    let after_remove = h.add("alice", &hat.id, 1).await.unwrap();

    assert_eq!(after_clear.currency, "EUR");
    assert_eq!(after_remove.currency, "GBP");
}

#[tokio::test]
async fn removing_purchased_lines_from_a_diverged_cart_removes_them_before_refusing_to_price() {
    let mut h = start().await;
    let mug = h.product_in("MUG", 1200, "USD").await;
    let tee = h.product_in("TEE", 2500, "USD").await;
    let hat = h.product_in("HAT", 900, "USD").await;
    for p in [&mug, &tee, &hat] {
        h.add("alice", &p.id, 1).await.unwrap();
    }
    h.change_currency(&hat, "EUR").await;

    let err = h
        .cart
        .remove_purchased_items(pb::RemovePurchasedItemsRequest {
            user_id: "alice".into(),
            order_id: Uuid::new_v4().to_string(),
            items: vec![pb::PurchasedItem {
                product_id: mug.id.clone(),
                quantity: 1,
            }],
        })
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    // The mug is gone although the rest could not be priced.
    h.cart
        .remove_item(pb::RemoveItemRequest {
            user_id: "alice".into(),
            product_id: hat.id.clone(),
        })
        .await
        .unwrap();
    let cart = h.get("alice").await.unwrap();
    let skus: Vec<&str> = cart.items.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(skus, ["TEE"]);
}

#[tokio::test]
async fn concurrent_clears_removals_and_purchases_on_one_cart_all_succeed() {
    let mut h = start().await;
    let mut products = Vec::new();
    for i in 0..20 {
        products.push(h.product_in(&format!("P-{i:02}"), 100, "USD").await);
    }

    for round in 0..5 {
        let user = format!("shopper-{round}");
        for p in &products {
            h.add(&user, &p.id, 1).await.unwrap();
        }
        // Act: purchases of every line (in reverse order), clears and
        // single removals race on the same rows.
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (mut cart, user) = (h.cart.clone(), user.clone());
            let mut items: Vec<pb::PurchasedItem> = products
                .iter()
                .map(|p| pb::PurchasedItem {
                    product_id: p.id.clone(),
                    quantity: 1,
                })
                .collect();
            if i % 2 == 0 {
                items.reverse();
            }
            tasks.push(tokio::spawn(async move {
                cart.remove_purchased_items(pb::RemovePurchasedItemsRequest {
                    user_id: user,
                    order_id: Uuid::new_v4().to_string(),
                    items,
                })
                .await
                .map(drop)
            }));
        }
        for _ in 0..2 {
            let (mut cart, user) = (h.cart.clone(), user.clone());
            tasks.push(tokio::spawn(async move {
                cart.clear_cart(pb::ClearCartRequest { user_id: user })
                    .await
                    .map(drop)
            }));
        }
        for p in products.iter().rev().take(5) {
            let (mut cart, user, id) = (h.cart.clone(), user.clone(), p.id.clone());
            tasks.push(tokio::spawn(async move {
                cart.remove_item(pb::RemoveItemRequest {
                    user_id: user,
                    product_id: id,
                })
                .await
                .map(drop)
            }));
        }

        for task in tasks {
            task.await
                .unwrap()
                .unwrap_or_else(|s| panic!("round {round}: {s:?}"));
        }
        assert!(h.get(&user).await.unwrap().items.is_empty());
    }
}
