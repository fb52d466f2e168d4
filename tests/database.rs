//! What the database itself enforces, and what survives a backup: each
//! service role is confined to its own schema, and one service's schema
//! dumped with `pg_dump` restores intact into a fresh database.

mod support;

use std::process::Command;
use std::time::Duration;

use sqlx::{Connection as _, PgConnection};
use support::{TestDb, eventually};

/// Every service's role and schema, from the component list.
fn databases() -> Vec<shop_topology::Database> {
    shop_topology::Component::ALL
        .iter()
        .filter_map(|c| c.spec().database)
        .collect()
}

#[tokio::test]
async fn each_service_role_is_refused_every_other_schema_and_public() {
    let db = TestDb::new().await;
    for own in databases() {
        let role = own.role;
        let mut conn = PgConnection::connect(&db.url(role)).await.unwrap();
        // Refused at the schema, before any table is looked up: the
        // table's name does not matter.
        for other in databases().into_iter().filter(|d| *d != own) {
            let (schema, table) = (other.schema, "any_table");
            let error = sqlx::query(&format!("SELECT 1 FROM {schema}.{table}"))
                .fetch_optional(&mut conn)
                .await
                .expect_err("another service's schema must be refused");
            let code = error.as_database_error().and_then(|e| e.code());
            assert_eq!(
                code.as_deref(),
                Some("42501"),
                "{role} reading {schema}.{table}: {error}"
            );
        }
        let error = sqlx::query("CREATE TABLE public.intruder (id int)")
            .execute(&mut conn)
            .await
            .expect_err("public must be closed to service roles");
        let code = error.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("42501"), "{role} in public: {error}");
        let _ = conn.close().await;
    }
}

/// Row count, stock and SKUs of the catalog: equal before and after means
/// the data came back.
async fn catalog_fingerprint(url: &str) -> (i64, i64, String) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let row: (i64, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT count(*), sum(available)::bigint, string_agg(sku || ':' || unit_price_minor, ',' ORDER BY sku)
         FROM product.products",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    (row.0, row.1.unwrap_or(0), row.2.unwrap_or_default())
}

#[tokio::test]
async fn one_schema_dumped_with_pg_dump_restores_intact_into_a_fresh_database() {
    // Next to the server binaries when they are there, else on PATH.
    let tool = |name: &str| {
        shop_pgtemp::find_bin_dir()
            .map(|dir| dir.join(name))
            .filter(|path| path.is_file())
            .unwrap_or_else(|| name.into())
    };
    let db = TestDb::new().await;
    let product =
        product_service::test_util::spawn_product(&db, &[("SEED_DEMO_CATALOG", "true")]).await;
    // The service migrates and seeds once it has bound its port.
    let pool = db.admin_pool().await;
    eventually(Duration::from_secs(10), async || {
        let seeded: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM product.products")
            .fetch_one(&pool)
            .await
            .ok();
        match seeded {
            Some(n) if n > 0 => Ok(()),
            _ => Err("the demo catalog is not seeded yet"),
        }
    })
    .await;
    pool.close().await;
    let before = catalog_fingerprint(&db.admin_url()).await;
    product.stop().await.unwrap();

    // The documented procedure (docs/reliability.md): dump one schema...
    let dump = std::env::temp_dir().join(format!("{}-product.dump", db.name));
    let status = Command::new(tool("pg_dump"))
        .args(["--format=custom", "--schema=product", "--file"])
        .arg(&dump)
        .arg(format!("--dbname={}", db.admin_url()))
        .status()
        .unwrap();
    assert!(status.success(), "pg_dump failed");

    // ...and restore it into a fresh, empty database.
    let fresh = format!("{}_restored", db.name);
    let mut admin = PgConnection::connect(&db.admin_url()).await.unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE \"{fresh}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    let mut restored_url = url::Url::parse(&db.admin_url()).unwrap();
    restored_url.set_path(&fresh);
    // The extensions the schema's indexes use, as the bootstrap makes them.
    let mut fresh_admin = PgConnection::connect(restored_url.as_str()).await.unwrap();
    sqlx::raw_sql(
        "CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm SCHEMA extensions;
         GRANT USAGE ON SCHEMA extensions TO product_svc",
    )
    .execute(&mut fresh_admin)
    .await
    .unwrap();
    let _ = fresh_admin.close().await;
    let status = Command::new(tool("pg_restore"))
        .args(["--exit-on-error", "--dbname"])
        .arg(restored_url.as_str())
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success(), "pg_restore failed");
    let _ = std::fs::remove_file(&dump);

    assert_eq!(catalog_fingerprint(restored_url.as_str()).await, before);
    // The schema still belongs to its service: product_svc reads it there.
    let mut as_service = url::Url::parse(&db.url("product_svc")).unwrap();
    as_service.set_path(&fresh);
    let mut conn = PgConnection::connect(as_service.as_str()).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, before.0);
    let _ = conn.close().await;
}
