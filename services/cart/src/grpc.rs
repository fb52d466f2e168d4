//! The gRPC handlers of `shop.cart.v1.CartService`.
//!
//! Each handler validates its request, changes the stored lines, and
//! answers with the cart priced now (`domain::price`) through one batch
//! call to product-service. When product-service cannot answer, calls fail
//! UNAVAILABLE; calls that need no prices (clearing a cart) still work.
//! RemovePurchasedItems removes the lines before it prices the rest, so its
//! error never means "not removed".

use std::collections::HashMap;

use shop_proto::cart::{self as pb, cart_service_server::CartService};
use shop_runtime::server::validate;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::domain::{self, CurrencyCheck, Line, PricedCart, Product};
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct CartApi {
    store: Store,
    /// product-service, for existence checks and prices.
    catalog: Catalog,
}

impl CartApi {
    pub fn new(store: Store, catalog: Catalog) -> Self {
        Self { store, catalog }
    }

    /// The cart as it is now, priced. `known` holds products already fetched.
    async fn priced(&self, user_id: String, known: HashMap<Uuid, Product>) -> Result<pb::Cart> {
        let lines = self.store.lines(&user_id).await?;
        self.price(user_id, lines, known).await
    }

    /// `lines`, priced. `known` holds products already fetched.
    async fn price(
        &self,
        user_id: String,
        lines: Vec<Line>,
        mut known: HashMap<Uuid, Product>,
    ) -> Result<pb::Cart> {
        let missing: Vec<Uuid> = lines
            .iter()
            .map(|l| l.product_id)
            .filter(|id| !known.contains_key(id))
            .collect();
        known.extend(self.catalog.products(&missing).await?);
        Ok(to_pb(user_id, domain::price(&lines, &known)?))
    }

    /// The products of the cart and `product_id`, for pricing, and the
    /// currency check the store repeats under the cart lock.
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
        let check = CurrencyCheck::for_product(product_id, &products)?;
        Ok((products, check))
    }

    async fn add(&self, req: pb::AddItemRequest) -> Result<pb::Cart> {
        let user_id = validate::user_id(&req.user_id)?;
        let product_id = validate::uuid("product_id", &req.product_id)?;
        let quantity = domain::add_quantity(req.quantity)?;
        let (products, currency) = self.check_product(&user_id, product_id).await?;
        let lines = self
            .store
            .add(&user_id, product_id, quantity, &currency)
            .await?;
        self.price(user_id, lines, products).await
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
        let lines = self
            .store
            .set(&user_id, product_id, quantity, &currency)
            .await?;
        self.price(user_id, lines, products).await
    }

    async fn remove_purchased(&self, req: pb::RemovePurchasedItemsRequest) -> Result<pb::Cart> {
        let user_id = validate::user_id(&req.user_id)?;
        let order_id = validate::uuid("order_id", &req.order_id)?;
        if req.items.len() > domain::MAX_PURCHASED_LINES {
            return Err(Error::invalid(
                "items",
                format!(
                    "at most {} lines, got {}",
                    domain::MAX_PURCHASED_LINES,
                    req.items.len()
                ),
            ));
        }
        let mut bought = Vec::with_capacity(req.items.len());
        for item in &req.items {
            bought.push(Line {
                product_id: validate::uuid("items.product_id", &item.product_id)?,
                quantity: domain::purchased_quantity(item.quantity)?,
                previous_unit_price_minor: None,
            });
        }
        let lines = self
            .store
            .remove_purchased(&user_id, order_id, &bought)
            .await?;
        self.price(user_id, lines, HashMap::new()).await
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

fn to_pb(user_id: String, cart: PricedCart) -> pb::Cart {
    pb::Cart {
        user_id,
        items: cart
            .items
            .into_iter()
            .map(|line| pb::CartItem {
                product_id: line.product.id.to_string(),
                sku: line.product.sku,
                name: line.product.name,
                quantity: line.quantity,
                unit_price_minor: line.product.unit_price_minor,
                line_total_minor: line.line_total_minor,
                previous_unit_price_minor: line.previous_unit_price_minor,
            })
            .collect(),
        currency: cart.currency,
        subtotal_minor: cart.subtotal_minor,
    }
}
