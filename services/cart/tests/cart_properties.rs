//! Property test of the cart's limits and money, against the real services:
//! any sequence of adds, quantity changes and removals, with quantities in
//! and out of range, prices up to the largest the catalog allows, and more
//! lines than a cart may hold, leaves cart-service agreeing with a model of
//! the contract's rules after every step: quantities 1..=99 per line (a total
//! above 99 after an add is refused), at most 50 lines, a refused edit
//! changes nothing, and every line total and the subtotal are exact (checked
//! in 128-bit arithmetic, so an overflow could not hide).

use std::collections::BTreeMap;

use product_service::MAX_UNIT_PRICE_MINOR;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shop_proto::cart::cart_service_client::CartServiceClient;
use shop_proto::cart::{self as pb};
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::{self as product_pb};
use shop_testkit::{Running, TestDb};
use tonic::Code;
use tonic::transport::Channel;

/// Products in the catalog: more than a cart's 50 lines.
const PRODUCTS: usize = 53;
const MAX_LINES: usize = 50;
const MAX_QUANTITY: i64 = 99;

/// One edit a shopper can make.
#[derive(Debug, Clone)]
enum Edit {
    Add(usize, i64),
    Set(usize, i64),
    Remove(usize),
    /// Adds one unit of `len` products from `start` on: fills a cart to its
    /// line limit in one step.
    AddRun(usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let product = 0..PRODUCTS;
    // Mostly valid quantities, with the edges and beyond.
    let quantity =
        prop_oneof![6 => 1..=MAX_QUANTITY, 1 => -2_i64..=0, 1 => 98_i64..=101, 1 => Just(i64::MAX)];
    let edit = prop_oneof![
        6 => (product.clone(), quantity.clone()).prop_map(|(p, q)| Edit::Add(p, q)),
        3 => (product.clone(), quantity).prop_map(|(p, q)| Edit::Set(p, q)),
        2 => product.clone().prop_map(Edit::Remove),
        1 => (product, 40..=PRODUCTS).prop_map(|(p, n)| Edit::AddRun(p, n)),
    ];
    proptest::collection::vec(edit, 1..40)
}

/// the contract's rules, applied to product index → quantity.
#[derive(Debug, Default)]
struct Model {
    lines: BTreeMap<usize, i64>,
}

impl Model {
    /// Applies an add or a set; `false` when the service must refuse it
    /// with INVALID_ARGUMENT and change nothing.
    fn add(&mut self, product: usize, quantity: i64) -> bool {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return false;
        }
        match self.lines.get(&product) {
            Some(&had) if had + quantity > MAX_QUANTITY => false,
            Some(&had) => {
                self.lines.insert(product, had + quantity);
                true
            }
            None if self.lines.len() >= MAX_LINES => false,
            None => {
                self.lines.insert(product, quantity);
                true
            }
        }
    }

    fn set(&mut self, product: usize, quantity: i64) -> bool {
        if !(0..=MAX_QUANTITY).contains(&quantity) {
            return false;
        }
        if quantity == 0 {
            self.lines.remove(&product);
        } else if self.lines.contains_key(&product) || self.lines.len() < MAX_LINES {
            self.lines.insert(product, quantity);
        } else {
            return false;
        }
        true
    }
}

struct Harness {
    _db: TestDb,
    _product: Running,
    _cart: Running,
    cart: CartServiceClient<Channel>,
    /// Product id and unit price, by index.
    catalog: Vec<(String, i64)>,
}

/// Prices spread over the whole allowed range, the largest included.
fn price(index: usize) -> i64 {
    match index % 4 {
        0 => MAX_UNIT_PRICE_MINOR,
        1 => MAX_UNIT_PRICE_MINOR - index as i64,
        2 => (index as i64 * 7_919) % 100_000,
        _ => (index as i64 * 1_234_567_891) % MAX_UNIT_PRICE_MINOR,
    }
}

async fn start() -> Harness {
    let db = TestDb::new().await;
    let product = product_service::test_util::spawn_product(&db, &[]).await;
    let cart_service = cart_service::test_util::spawn_cart(&db, &product, &[]).await;
    let mut products = ProductServiceClient::connect(product.url()).await.unwrap();
    let mut catalog = Vec::new();
    for index in 0..PRODUCTS {
        let created = products
            .create_product(product_pb::CreateProductRequest {
                sku: format!("SKU-{index}"),
                name: format!("Product {index}"),
                description: String::new(),
                category: "test".into(),
                image_url: String::new(),
                unit_price_minor: price(index),
                currency: "USD".into(),
                initial_stock: 1,
            })
            .await
            .unwrap()
            .into_inner();
        catalog.push((created.id, created.unit_price_minor));
    }
    Harness {
        cart: CartServiceClient::connect(cart_service.url())
            .await
            .unwrap(),
        _db: db,
        _product: product,
        _cart: cart_service,
        catalog,
    }
}

impl Harness {
    /// Runs `edits` for a new shopper, checking the cart after each one.
    async fn check(&self, edits: Vec<Edit>) -> Result<(), TestCaseError> {
        let user = uuid::Uuid::new_v4().to_string();
        let mut cart = self.cart.clone();
        let mut model = Model::default();
        for edit in edits {
            let steps: Vec<(bool, usize, i64)> = match edit {
                Edit::Add(p, q) => vec![(true, p, q)],
                Edit::Set(p, q) => vec![(false, p, q)],
                Edit::Remove(p) => vec![(false, p, 0)],
                Edit::AddRun(start, len) => (0..len)
                    .map(|i| (true, (start + i) % PRODUCTS, 1))
                    .collect(),
            };
            for (add, product, quantity) in steps {
                let (user_id, product_id) = (user.clone(), self.catalog[product].0.clone());
                let (accepted, answer) = if add {
                    let request = pb::AddItemRequest {
                        user_id,
                        product_id,
                        quantity,
                    };
                    (model.add(product, quantity), cart.add_item(request).await)
                } else if matches!(edit, Edit::Remove(_)) {
                    let request = pb::RemoveItemRequest {
                        user_id,
                        product_id,
                    };
                    (model.set(product, 0), cart.remove_item(request).await)
                } else {
                    let request = pb::SetItemQuantityRequest {
                        user_id,
                        product_id,
                        quantity,
                    };
                    (
                        model.set(product, quantity),
                        cart.set_item_quantity(request).await,
                    )
                };
                let shown = match answer {
                    Ok(answer) => {
                        prop_assert!(
                            accepted,
                            "{edit:?} on product {product} accepted; the model refuses it"
                        );
                        answer.into_inner()
                    }
                    Err(status) => {
                        prop_assert!(
                            !accepted,
                            "{edit:?} on product {product} refused: {status:?}"
                        );
                        prop_assert_eq!(status.code(), Code::InvalidArgument, "{:?}", status);
                        let request = pb::GetCartRequest {
                            user_id: user.clone(),
                        };
                        cart.get_cart(request)
                            .await
                            .map_err(|s| TestCaseError::fail(s.to_string()))?
                            .into_inner()
                    }
                };
                self.agrees(&model, &shown)?;
            }
        }
        Ok(())
    }

    /// The cart shows exactly the model's lines, priced exactly.
    fn agrees(&self, model: &Model, cart: &pb::Cart) -> Result<(), TestCaseError> {
        let expected: BTreeMap<&str, (i64, i64)> = model
            .lines
            .iter()
            .map(|(&p, &q)| (self.catalog[p].0.as_str(), (q, self.catalog[p].1)))
            .collect();
        let shown: BTreeMap<&str, (i64, i64)> = cart
            .items
            .iter()
            .map(|i| (i.product_id.as_str(), (i.quantity, i.unit_price_minor)))
            .collect();
        prop_assert_eq!(&shown, &expected);
        prop_assert!(cart.items.len() <= MAX_LINES);
        let mut subtotal = 0_i128;
        for item in &cart.items {
            let exact = i128::from(item.unit_price_minor) * i128::from(item.quantity);
            prop_assert_eq!(i128::from(item.line_total_minor), exact);
            subtotal += exact;
        }
        prop_assert_eq!(i128::from(cart.subtotal_minor), subtotal);
        Ok(())
    }
}

#[test]
fn any_sequence_of_cart_edits_agrees_with_the_limits_and_prices_exactly() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let harness = runtime.block_on(start());
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&edits(), |edits| runtime.block_on(harness.check(edits)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_largest_cart_still_totals_exactly_in_64_bits() {
    // 50 lines of 99 units at the largest price: the bound the limits keep.
    let largest = i128::from(MAX_UNIT_PRICE_MINOR) * 99 * 50;
    assert!(largest < i128::from(i64::MAX) / 1000, "{largest}");
}
