//! Compiles the `.proto` files with `protox` (a protobuf compiler written in
//! Rust), so a fresh machine builds with cargo alone: no system `protoc`.

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "shop/product/v1/product.proto",
        "shop/cart/v1/cart.proto",
        "shop/order/v1/order.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["."])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Reflection serves these descriptors; code generation reads them too.
    std::fs::write(
        out_dir.join("shop_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
