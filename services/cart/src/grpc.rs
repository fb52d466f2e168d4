//! The gRPC handlers of `shop.cart.v1.CartService`.
//!
//! A cart is stored as (product, quantity) lines and priced on every read
//! through one batch call to product-service. When product-service cannot
//! answer, calls fail UNAVAILABLE: a cart is never shown with a stale or
//! invented price. A cart holds one currency: an add in another one is
//! FAILED_PRECONDITION, and a cart whose products changed currency after
//! they went in is FAILED_PRECONDITION on every priced read rather than a
//! subtotal over two currencies. RemovePurchasedItems removes the lines
//! before it prices the rest, so that error never means "not removed".

use std::collections::HashMap;

use shop_proto::cart::{self as pb, cart_service_server::CartService};
use shop_proto::product::Product;
use shop_runtime::validate;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::domain::{self, CurrencyCheck, Line};
use crate::error::{Error, Result};
use crate::store::Store;

/// Most lines in one RemovePurchasedItems call.
const MAX_PURCHASED_LINES: usize = 100;

/// The service implementation.
#[derive(Debug, Clone)]
pub struct CartApi {
    /// The cart database.
    store: Store,
    /// product-service, for existence checks and prices.
    catalog: Catalog,
}

impl CartApi {
    /// Handlers over `store` and `catalog`.
    pub fn new(store: Store, catalog: Catalog) -> Self {
        Self { store, catalog }
    }

    /// The cart as it is now, priced. `known` holds products already fetched.
    async fn priced(&self, user_id: String, mut known: HashMap<Uuid, Product>) -> Result<pb::Cart> {
        let lines = self.store.lines(&user_id).await?;
        let missing: Vec<Uuid> = lines
            .iter()
            .map(|l| l.product_id)
            .filter(|id| !known.contains_key(id))
            .collect();
        known.extend(self.catalog.products(&missing).await?);

        let mut cart = pb::Cart {
            user_id,
            ..Default::default()
        };
        let mut currencies: Vec<(&str, &str)> = Vec::new();
        for line in lines {
            let Some(product) = known.get(&line.product_id) else {
                // The catalog no longer has it: nothing can be sold, so it is not shown.
                tracing::warn!(product_id = %line.product_id, "cart line for an unknown product");
                continue;
            };
            let quantity = i64::from(line.quantity);
            let line_total = product.unit_price_minor * quantity;
            if cart.currency.is_empty() {
                cart.currency = product.currency.clone();
            }
            currencies.push((&product.sku, &product.currency));
            cart.subtotal_minor += line_total;
            cart.items.push(pb::CartItem {
                product_id: product.id.clone(),
                sku: product.sku.clone(),
                name: product.name.clone(),
                quantity,
                unit_price_minor: product.unit_price_minor,
                line_total_minor: line_total,
            });
        }
        if currencies.iter().any(|(_, c)| *c != cart.currency) {
            // A product changed currency after it went into the cart: a
            // subtotal over two currencies would be wrong, so there is none.
            let named: Vec<String> = currencies
                .iter()
                .map(|(sku, currency)| format!("{sku} in {currency}"))
                .collect();
            return Err(Error::FailedPrecondition(format!(
                "the cart holds products priced in different currencies ({}); \
                 remove the items of one currency to continue",
                named.join(", ")
            )));
        }
        Ok(cart)
    }

    /// Checks that `product_id` exists and is priced in the currency of the
    /// cart's products; returns the products of the cart and the new one,
    /// for pricing, and what the store checks again under the cart lock (the
    /// lines read here may be out of date by then).
    async fn check_product(
        &self,
        user_id: &str,
        product_id: Uuid,
    ) -> Result<(HashMap<Uuid, Product>, CurrencyCheck)> {
        let mut ids: Vec<Uuid> = self
            .store
            .lines(user_id)
            .await?
            .iter()
            .map(|l| l.product_id)
            .collect();
        ids.push(product_id);
        let products = self.catalog.products(&ids).await?;
        let product = products
            .get(&product_id)
            .ok_or_else(|| Error::NotFound(format!("product {product_id} not found")))?;
        if let Some(other) = products.values().find(|p| p.currency != product.currency) {
            return Err(Error::FailedPrecondition(format!(
                "the cart holds items priced in {}; product {product_id} is priced in {}",
                other.currency, product.currency
            )));
        }
        let check = CurrencyCheck {
            currency: product.currency.clone(),
            confirmed: products.keys().copied().collect(),
        };
        Ok((products, check))
    }

    async fn add(&self, req: pb::AddItemRequest) -> Result<pb::Cart> {
        let user_id = validate::user_id(&req.user_id)?;
        let product_id = validate::uuid("product_id", &req.product_id)?;
        let quantity = domain::add_quantity(req.quantity)?;
        let (products, currency) = self.check_product(&user_id, product_id).await?;
        self.store
            .add(&user_id, product_id, quantity, &currency)
            .await?;
        self.priced(user_id, products).await
    }

    async fn set(&self, req: pb::SetItemQuantityRequest) -> Result<pb::Cart> {
        let user_id = validate::user_id(&req.user_id)?;
        let product_id = validate::uuid("product_id", &req.product_id)?;
        let quantity = domain::set_quantity(req.quantity)?;
        if quantity == 0 {
            self.store.remove(&user_id, product_id).await?;
            return self.priced(user_id, HashMap::new()).await;
        }
        let (products, currency) = self.check_product(&user_id, product_id).await?;
        self.store
            .set(&user_id, product_id, quantity, &currency)
            .await?;
        self.priced(user_id, products).await
    }

    async fn remove_purchased(&self, req: pb::RemovePurchasedItemsRequest) -> Result<pb::Cart> {
        let user_id = validate::user_id(&req.user_id)?;
        let order_id = validate::uuid("order_id", &req.order_id)?;
        if req.items.len() > MAX_PURCHASED_LINES {
            return Err(Error::invalid(
                "items",
                format!(
                    "at most {MAX_PURCHASED_LINES} lines, got {}",
                    req.items.len()
                ),
            ));
        }
        let mut bought = Vec::with_capacity(req.items.len());
        for item in &req.items {
            bought.push(Line {
                product_id: validate::uuid("items.product_id", &item.product_id)?,
                quantity: i32::try_from(item.quantity)
                    .ok()
                    .filter(|q| *q > 0)
                    .ok_or_else(|| {
                        Error::invalid("items.quantity", "must be a positive number of units")
                    })?,
            });
        }
        self.store
            .remove_purchased(&user_id, order_id, &bought)
            .await?;
        self.priced(user_id, HashMap::new()).await
    }
}

#[tonic::async_trait]
impl CartService for CartApi {
    async fn get_cart(
        &self,
        request: Request<pb::GetCartRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let user_id = validate::user_id(&request.get_ref().user_id)?;
        Ok(Response::new(self.priced(user_id, HashMap::new()).await?))
    }

    async fn add_item(
        &self,
        request: Request<pb::AddItemRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        Ok(Response::new(self.add(request.into_inner()).await?))
    }

    async fn set_item_quantity(
        &self,
        request: Request<pb::SetItemQuantityRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        Ok(Response::new(self.set(request.into_inner()).await?))
    }

    async fn remove_item(
        &self,
        request: Request<pb::RemoveItemRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        let req = request.into_inner();
        let user_id = validate::user_id(&req.user_id)?;
        let product_id = validate::uuid("product_id", &req.product_id)?;
        self.store.remove(&user_id, product_id).await?;
        Ok(Response::new(self.priced(user_id, HashMap::new()).await?))
    }

    async fn clear_cart(
        &self,
        request: Request<pb::ClearCartRequest>,
    ) -> Result<Response<pb::ClearCartResponse>, Status> {
        let user_id = validate::user_id(&request.get_ref().user_id)?;
        self.store.clear(&user_id).await?;
        Ok(Response::new(pb::ClearCartResponse {}))
    }

    async fn remove_purchased_items(
        &self,
        request: Request<pb::RemovePurchasedItemsRequest>,
    ) -> Result<Response<pb::Cart>, Status> {
        Ok(Response::new(
            self.remove_purchased(request.into_inner()).await?,
        ))
    }
}
