//! docker compose, Kubernetes and docs/contract.md agree on ports, gRPC service
//! names and variable names, and match what the code uses. Static: no
//! container engine or cluster needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_norway::Value;
use shop_topology::Component;

mod compose;
mod contract;
mod hardening;
mod kubernetes;
mod observability;
mod secrets;

/// (component, main port, admin port, gRPC service name or "" for HTTP),
/// from the one component list: every file below is checked for each.
fn components() -> impl Iterator<Item = (&'static str, u16, u16, &'static str)> {
    Component::ALL.into_iter().map(|c| {
        let s = c.spec();
        (s.name, s.port, s.admin_port, s.grpc_service.unwrap_or(""))
    })
}

/// Every variable the contract documents: each `` `NAME` `` in
/// docs/contract.md written in capitals (`FAULTS`, `DATABASE_URL`).
fn documented_variables() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/contract.md")).expect("docs/contract.md");
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| {
            name.len() > 1
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// Every variable the components' code reads through `Env`: the literal
/// first argument of `get`, `parse_or`, `seconds_or`, `secret` and
/// `signing_key` in the Rust sources of `folders`.
fn variables_read_by_code(folders: &[&str]) -> BTreeSet<String> {
    let mut read = BTreeSet::new();
    let mut dirs: Vec<PathBuf> = folders.iter().map(|f| repo().join(f)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for method in ["get", "parse_or", "seconds_or", "secret", "signing_key"] {
                for (at, _) in text.match_indices(&format!("env.{method}(")) {
                    let rest = text[at + method.len() + 5..].trim_start();
                    if let Some(literal) = rest.strip_prefix('"') {
                        let name = &literal[..literal.find('"').unwrap()];
                        if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                            read.insert(name.to_string());
                        }
                    }
                }
            }
        }
    }
    read
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value =
                Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            value.apply_merge().unwrap();
            value
        })
        .collect()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {addr}"))
}

fn expected_port_of_addr_var(var: &str) -> Option<u16> {
    Component::ALL
        .into_iter()
        .find(|c| c.spec().addr_var == Some(var))
        .map(|c| c.spec().port)
}

/// A variable or key that holds a credential.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_uppercase().replace('-', "_");
    ["PASSWORD", "SECRET", "DATABASE_URL", "TOKEN", "PRIVATE_KEY"]
        .iter()
        .any(|marker| name.contains(marker))
}

/// Every YAML object under `k8s/`, with the file it came from.
fn kubernetes_objects() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("k8s")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .flat_map(|file| {
            documents(&file)
                .into_iter()
                .map(move |doc| (file.clone(), doc))
        })
        .collect()
}

/// Every file a kustomization renders from, following `resources` into
/// directories and files, with the kustomization files themselves.
fn kustomization_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let manifest = dir.join("kustomization.yaml");
    let kustomization = &documents(&manifest)[0];
    found.push(manifest);
    let listed = ["resources", "components"]
        .iter()
        .flat_map(|k| kustomization[*k].as_sequence().cloned().unwrap_or_default());
    for entry in listed {
        let path = dir.join(entry.as_str().unwrap());
        if path.is_dir() {
            kustomization_files(&path, found);
        } else {
            found.push(path);
        }
    }
    for generator in kustomization["configMapGenerator"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        for file in generator["files"].as_sequence().into_iter().flatten() {
            found.push(dir.join(file.as_str().unwrap()));
        }
    }
}
