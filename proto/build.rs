//! Compiles the `.proto` files with `protox` (a protobuf compiler written in
//! Rust), so a fresh machine builds with cargo alone: no system `protoc`.

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every .proto under shop/: a new service's file needs no entry here.
    let mut protos = Vec::new();
    find_protos(std::path::Path::new("shop"), &mut protos)?;
    protos.sort();
    println!("cargo:rerun-if-changed=shop");
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(&protos, ["."])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Reflection serves these descriptors; code generation reads them too.
    std::fs::write(
        out_dir.join("shop_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    std::fs::write(out_dir.join("services.rs"), service_modules(&protos)?)?;
    Ok(())
}

/// One module per `shop/<name>/v1/*.proto` (`pub mod <name>`), documented
/// with the first line of the file's leading comment: `src/lib.rs`
/// includes them, so a new service's `.proto` needs no edit here or there.
fn service_modules(protos: &[String]) -> std::io::Result<String> {
    let mut modules = String::new();
    for proto in protos {
        let parts: Vec<&str> = proto.split('/').collect();
        let [_, name, version, _] = parts[..] else {
            continue;
        };
        let text = std::fs::read_to_string(proto)?;
        let summary = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("//"))
            .map(str::trim)
            .unwrap_or_default();
        let package = format!("shop.{name}.{version}");
        modules.push_str(&format!(
            "/// `{package}`: {summary}\n\
             pub mod {name} {{\n\
             #![allow(missing_docs, clippy::all, missing_debug_implementations)]\n\
             tonic::include_proto!(\"{package}\");\n\
             }}\n"
        ));
    }
    Ok(modules)
}

/// The `.proto` files under `dir`, as paths relative to this crate.
fn find_protos(dir: &std::path::Path, found: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_protos(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}
