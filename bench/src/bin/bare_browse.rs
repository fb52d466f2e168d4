//! The browse path written as plainly as it can be: the reference
//! `bench/run` measures the shop's `GET /api/v1/products/{id}` against.
//!
//! - `bare_browse product`: a bare `tonic` server of `ProductService/GetProduct`
//!   over a few `tokio-postgres` connections, each with the one SELECT
//!   prepared once.
//! - `bare_browse gateway`: a bare `axum` handler of
//!   `GET /api/v1/products/{id}` calling it through a bare `tonic` channel,
//!   answering the same JSON as the shop's gateway.
//!
//! No middleware, no auth, no limits, no tracing, no metrics, no
//! validation beyond what the types need: the floor of this path on this
//! machine. Each runs as its own process, as the shop's components do.
//!
//! Variables: `LISTEN_ADDR`; for `product` also `DATABASE_URL` and
//! `POOL_SIZE` (default 16); for `gateway` also `PRODUCT_SERVICE_ADDR`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use shop_proto::product::product_service_client::ProductServiceClient;
use shop_proto::product::product_service_server::{ProductService, ProductServiceServer};
use shop_proto::product::{self as pb};
use tokio_postgres::{Client, NoTls, Statement};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

/// The same allocator as the shop's binaries, so the comparison is of code.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The columns the shop's GetProduct reads, by id.
const SELECT: &str = "SELECT id::text, sku, name, description, category, image_url, \
     unit_price_minor, currency, available FROM product.products WHERE id = ($1::text)::uuid";

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("{name} is not set"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen: std::net::SocketAddr = var("LISTEN_ADDR")?.parse()?;
    match std::env::args().nth(1).as_deref() {
        Some("product") => product(listen).await,
        Some("gateway") => gateway(listen).await,
        _ => anyhow::bail!("usage: bare_browse product|gateway"),
    }
}

/// Connections used round-robin, each with the statement prepared.
struct Database {
    connections: Vec<(Client, Statement)>,
    next: AtomicUsize,
}

impl Database {
    async fn connect(url: &str, size: usize) -> anyhow::Result<Self> {
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
            tokio::spawn(connection);
            let statement = client.prepare(SELECT).await?;
            connections.push((client, statement));
        }
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    fn pick(&self) -> &(Client, Statement) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        &self.connections[i]
    }
}

#[derive(Clone)]
struct Bare(Arc<Database>);

/// What every other RPC answers: the reference is of the browse path only.
fn get_product_only() -> Status {
    Status::unimplemented("the bare reference serves GetProduct only")
}

#[tonic::async_trait]
impl ProductService for Bare {
    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let (client, statement) = self.0.pick();
        let row = client
            .query_opt(statement, &[&request.into_inner().id])
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .ok_or_else(|| Status::not_found("no such product"))?;
        Ok(Response::new(pb::Product {
            id: row.get(0),
            sku: row.get(1),
            name: row.get(2),
            description: row.get(3),
            category: row.get(4),
            image_url: row.get(5),
            unit_price_minor: row.get(6),
            currency: row.get(7),
            available: row.get(8),
            ..Default::default()
        }))
    }

    async fn list_products(
        &self,
        _: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        Err(get_product_only())
    }

    async fn batch_get_products(
        &self,
        _: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        Err(get_product_only())
    }

    async fn create_product(
        &self,
        _: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        Err(get_product_only())
    }

    async fn update_product(
        &self,
        _: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        Err(get_product_only())
    }

    async fn adjust_stock(
        &self,
        _: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        Err(get_product_only())
    }

    async fn reserve_stock(
        &self,
        _: Request<pb::ReserveStockRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        Err(get_product_only())
    }

    async fn get_reservation(
        &self,
        _: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        Err(get_product_only())
    }

    async fn commit_reservation(
        &self,
        _: Request<pb::CommitReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        Err(get_product_only())
    }

    async fn release_reservation(
        &self,
        _: Request<pb::ReleaseReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        Err(get_product_only())
    }
}

async fn product(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let size = std::env::var("POOL_SIZE")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(16);
    let database = Database::connect(&var("DATABASE_URL")?, size).await?;
    Server::builder()
        .add_service(ProductServiceServer::new(Bare(Arc::new(database))))
        .serve(listen)
        .await?;
    Ok(())
}

async fn gateway(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let channel = Endpoint::from_shared(var("PRODUCT_SERVICE_ADDR")?)?.connect_lazy();
    let app = axum::Router::new()
        .route("/api/v1/products/{id}", get(get_product))
        .with_state(ProductServiceClient::new(channel));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn get_product(
    State(mut client): State<ProductServiceClient<Channel>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    let p = client
        .get_product(pb::GetProductRequest { id })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_GATEWAY,
        })?
        .into_inner();
    Ok(Json(json!({
        "id": p.id, "sku": p.sku, "name": p.name, "description": p.description,
        "category": p.category, "image_url": p.image_url,
        "unit_price_cents": p.unit_price_minor, "currency": p.currency, "available": p.available,
    })))
}
