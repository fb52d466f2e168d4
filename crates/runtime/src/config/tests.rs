//! Secrets: placeholders and committed development values refused.

use secrecy::ExposeSecret as _;

use super::*;

fn env(vars: &[(&str, &str)]) -> Env {
    Env::from_map(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

const DEV_KEY: &str = "compose-development-page-token-secret-not-for-production";
const DEV_URL: &str = "postgres://product_svc:product-dev-password@postgres:5432/shop";

#[test]
fn every_committed_development_value_is_refused_naming_the_variable_outside_development() {
    for value in DEVELOPMENT_VALUES {
        let error = env(&[("AUTH_SECRET", value)])
            .secret("AUTH_SECRET")
            .unwrap_err();
        assert_eq!(error.var, "AUTH_SECRET");
        assert!(error.message.contains("development value"), "{error}");
        assert!(error.message.contains(DEVELOPMENT_VAR), "{error}");
        assert!(
            !error.to_string().contains(value),
            "never prints the secret"
        );
    }
    let error = env(&[("PAGE_TOKEN_SECRET", DEV_KEY)])
        .signing_key("PAGE_TOKEN_SECRET")
        .unwrap_err();
    assert_eq!(error.var, "PAGE_TOKEN_SECRET");
}

#[test]
fn a_database_url_with_a_development_password_is_refused_outside_development() {
    let error = env(&[("DATABASE_URL", DEV_URL)])
        .secret("DATABASE_URL")
        .unwrap_err();
    assert_eq!(error.var, "DATABASE_URL");
    assert!(!error.to_string().contains("product-dev-password"));
    // The same role with a password of its own is fine.
    let own = "postgres://product_svc:Zq8rT2vLx9@postgres:5432/shop";
    assert!(env(&[("DATABASE_URL", own)]).secret("DATABASE_URL").is_ok());
}

#[test]
fn development_values_are_accepted_when_the_deployment_declares_itself_development() {
    let dev = env(&[
        (DEVELOPMENT_VAR, DEVELOPMENT),
        ("PAGE_TOKEN_SECRET", DEV_KEY),
        ("DATABASE_URL", DEV_URL),
    ]);
    let key = dev.signing_key("PAGE_TOKEN_SECRET").unwrap();
    assert_eq!(key.expose_secret(), DEV_KEY);
    assert!(dev.secret("DATABASE_URL").is_ok());
}

#[test]
fn a_random_secret_is_accepted_whether_or_not_the_deployment_is_development() {
    let random = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    for vars in [vec![], vec![(DEVELOPMENT_VAR, DEVELOPMENT)]] {
        let mut vars = vars;
        vars.push(("AUTH_SECRET", random.as_str()));
        let key = env(&vars).signing_key("AUTH_SECRET").unwrap();
        assert_eq!(key.expose_secret(), random);
    }
}

#[test]
fn any_other_value_of_the_development_variable_is_refused_naming_it() {
    let error = env(&[(DEVELOPMENT_VAR, "dev"), ("AUTH_SECRET", DEV_KEY)])
        .secret("AUTH_SECRET")
        .unwrap_err();
    assert_eq!(error.var, DEVELOPMENT_VAR);
}
