//! Credentials appear only as marked development values, placeholders or Secret references.

use std::collections::BTreeSet;

use serde_norway::Value;

use crate::*;

/// Collects every `env` entry (name, has an inline `value`) in `value`.
fn env_entries(value: &Value, found: &mut Vec<(String, bool)>) {
    match value {
        Value::Mapping(map) => {
            if let Some(Value::Sequence(env)) = map.get("env") {
                for entry in env {
                    let name = entry["name"].as_str().unwrap_or_default().to_string();
                    found.push((name, entry.get("value").is_some()));
                }
            }
            for (_, v) in map {
                env_entries(v, found);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| env_entries(v, found)),
        _ => {}
    }
}

#[test]
fn credentials_appear_only_as_marked_development_values_placeholders_or_secret_references() {
    // Compose: each credential is a literal marked as a development value.
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let mut compose_credentials = 0;
    for line in compose.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // Not a `KEY: value` line (a list item, a mount).
            continue;
        }
        let value = value.split('#').next().unwrap_or_default().trim();
        let embeds_password = value.contains("://") && value.contains('@');
        if value.is_empty() || !(is_secret_name(key) || embeds_password) {
            continue;
        }
        compose_credentials += 1;
        assert!(
            value.contains("dev") && line.trim_end().ends_with("# development value")
                || line.contains("# development value,"),
            "docker-compose.yml: a credential that is not a marked development value: {line}"
        );
    }
    assert!(compose_credentials >= 5, "found {compose_credentials}");

    // Kubernetes: credentials come from a Secret. The only one checked in is
    // the dev overlay's, of marked development values; no ConfigMap holds one.
    let mut secrets = 0;
    let dev_secret =
        std::fs::read_to_string(repo().join("k8s/overlays/dev/secret.dev.yaml")).unwrap();
    for (file, object) in kubernetes_objects() {
        let file = file.display();
        match object["kind"].as_str().unwrap_or_default() {
            "Secret" => {
                secrets += 1;
                assert!(
                    file.to_string()
                        .ends_with("k8s/overlays/dev/secret.dev.yaml"),
                    "{file}: a Secret outside the dev overlay"
                );
                for (key, value) in object["stringData"].as_mapping().into_iter().flatten() {
                    let (key, value) = (
                        key.as_str().unwrap_or_default(),
                        value.as_str().unwrap_or_default(),
                    );
                    assert!(
                        value.contains("dev")
                            && dev_secret
                                .lines()
                                .any(|l| l.contains(&format!("{key}: {value} # development value"))),
                        "{file}: Secret {key:?} is not a marked development value"
                    );
                }
                assert!(object.get("data").is_none(), "{file}: encoded Secret data");
            }
            "ConfigMap" => {
                for (key, _) in object["data"].as_mapping().into_iter().flatten() {
                    let key = key.as_str().unwrap_or_default();
                    assert!(
                        !is_secret_name(key) || key.ends_with(".sh"),
                        "{file}: ConfigMap holds {key}"
                    );
                }
            }
            _ => {}
        }
        let mut env = Vec::new();
        env_entries(&object, &mut env);
        for (name, inline) in env {
            assert!(
                !(is_secret_name(&name) && inline),
                "{file}: {name} is set inline instead of from a Secret"
            );
        }
    }
    assert_eq!(secrets, 1, "the dev overlay's Secret");

    // Images: no credential baked in.
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if matches!(words.first(), Some(&"ENV" | &"ARG")) {
            assert!(
                !is_secret_name(line),
                "Dockerfile bakes in a credential: {line}"
            );
        }
    }
}

/// The value of a line marked as a development value, or `None`: YAML
/// (`key: value # development value`) or SQL (`... PASSWORD 'value'; --
/// development value`). A URL's value is its password.
fn marked_development_value(line: &str) -> Option<String> {
    let value = if line.trim_end().ends_with("-- development value") {
        line.split('\'').nth(1)?
    } else if line.contains("# development value") {
        let (_, rest) = line.split_once(": ")?;
        rest.split(" #").next()?.trim()
    } else {
        return None;
    };
    let value = match value.split_once("://") {
        Some((_, rest)) => {
            let userinfo = &rest[..rest.rfind('@')?];
            userinfo.split_once(':')?.1
        }
        None => value,
    };
    Some(value.to_string())
}

#[test]
fn every_committed_development_value_is_refused_outside_a_development_deployment() {
    use shop_runtime::Env;
    use shop_runtime::config::{DEVELOPMENT, DEVELOPMENT_VALUES, DEVELOPMENT_VAR};
    let files = [
        "docker-compose.yml",
        "k8s/overlays/dev/secret.dev.yaml",
        "db/dev-passwords.sql",
    ];
    let mut marked = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for line in text.lines() {
            if let Some(value) = marked_development_value(line) {
                marked.insert(value.clone());
                assert!(
                    DEVELOPMENT_VALUES.contains(&value.as_str()),
                    "{file}: the development value {value:?} is missing from \
                     shop_runtime::config::DEVELOPMENT_VALUES"
                );
            }
        }
    }
    assert!(marked.len() >= 10, "found {marked:?}");
    let listed: BTreeSet<String> = DEVELOPMENT_VALUES.iter().map(|v| v.to_string()).collect();
    assert_eq!(listed, marked, "the list holds exactly the marked values");
    // Every one is refused as a secret, and as a URL's password, unless the
    // deployment is a development one.
    for value in &marked {
        let url = format!("postgres://cart_svc:{value}@postgres:5432/shop");
        for (var, value) in [("ADMIN_PASSWORD", value.as_str()), ("DATABASE_URL", &url)] {
            let production = Env::from_map([(var.to_string(), value.to_string())].into());
            assert_eq!(production.secret(var).unwrap_err().var, var);
            let development = Env::from_map(
                [
                    (var.to_string(), value.to_string()),
                    (DEVELOPMENT_VAR.to_string(), DEVELOPMENT.to_string()),
                ]
                .into(),
            );
            assert!(development.secret(var).is_ok(), "{var} in development");
        }
    }
}
