//! The unit tests of `limits.rs`: the client behind proxies, the keys of
//! IPv6 clients, the login backoff.

use super::*;

fn limits(trusted: &str) -> Limits {
    let env = Env::from_map([("TRUSTED_PROXIES".to_string(), trusted.to_string())].into());
    Limits::new(&LimitsConfig::from_env(&env).unwrap())
}

fn forwarded(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", value.parse().unwrap());
    headers
}

#[test]
fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let peer: IpAddr = "203.0.113.9".parse().unwrap();
    let ip = limits("10.0.0.0/8").client_ip(peer, &forwarded("198.51.100.1"));
    assert_eq!(ip, peer);
}

#[test]
fn the_client_is_the_nearest_untrusted_hop_behind_trusted_proxies() {
    let limits = limits("10.0.0.0/8, 192.0.2.7");
    let peer: IpAddr = "10.1.2.3".parse().unwrap();
    // A client-forged left-most entry is not believed.
    let headers = forwarded("1.1.1.1, 198.51.100.1, 192.0.2.7");
    assert_eq!(
        limits.client_ip(peer, &headers),
        "198.51.100.1".parse::<IpAddr>().unwrap()
    );
    // Garbage stops the walk at the last trusted hop.
    assert_eq!(limits.client_ip(peer, &forwarded("not-an-ip")), peer);
}

#[test]
fn a_bad_trusted_proxy_entry_names_the_variable() {
    let env = Env::from_map(
        [(
            "TRUSTED_PROXIES".to_string(),
            "10.0.0.0/8, proxy".to_string(),
        )]
        .into(),
    );
    let err = LimitsConfig::from_env(&env).unwrap_err();
    assert_eq!(err.var, "TRUSTED_PROXIES");
}

#[test]
fn failed_logins_back_off_after_the_free_ones_and_success_clears_them() {
    let backoff = LoginBackoff::default();
    let ip: IpAddr = "198.51.100.1".parse().unwrap();
    for _ in 0..FREE_FAILED_LOGINS {
        backoff.failed(ip);
        assert!(backoff.check(ip).is_ok());
    }
    backoff.failed(ip);
    let refused = backoff.check(ip).unwrap_err();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.retry_after, Some(1));
    backoff.failed(ip);
    assert_eq!(backoff.check(ip).unwrap_err().retry_after, Some(2));
    let other: IpAddr = "198.51.100.2".parse().unwrap();
    assert!(backoff.check(other).is_ok(), "per IP");
    backoff.succeeded(ip);
    assert!(backoff.check(ip).is_ok());
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Limits of one request per second per client IP (and one sign-in a
/// minute), nothing else.
fn one_request_per_ip() -> Limits {
    let vars = [
        ("RATE_LIMIT_PER_IP_PER_SECOND", "1"),
        ("RATE_LIMIT_PER_IP_BURST", "1"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1"),
        ("AUTH_RATE_LIMIT_BURST", "1"),
    ];
    let env = Env::from_map(
        vars.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    Limits::new(&LimitsConfig::from_env(&env).unwrap())
}

#[test]
fn an_ipv6_client_is_keyed_by_its_64_and_an_ipv4_client_by_its_address() {
    assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
    assert_eq!(
        client_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
        ip("2001:db8:1:2::")
    );
    assert_ne!(client_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
    assert_eq!(client_key(ip("198.51.100.7")), ip("198.51.100.7"));
    assert_eq!(client_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
}

#[test]
fn two_addresses_in_one_ipv6_64_share_the_per_ip_bucket_and_other_64s_do_not() {
    let limits = one_request_per_ip();
    assert!(limits.charge_ip(ip("2001:db8:0:1::1"), false).is_ok());
    let refused = limits
        .charge_ip(ip("2001:db8:0:1:dead:beef:0:2"), false)
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limits.charge_ip(ip("2001:db8:0:2::1"), false).is_ok(),
        "another /64 is another client"
    );
    // The sign-in budget is keyed the same way.
    assert!(limits.charge_ip(ip("2001:db8:0:3::1"), true).is_ok());
    assert!(limits.charge_ip(ip("2001:db8:0:3::2"), true).is_err());
}

#[test]
fn ipv4_clients_keep_a_bucket_each_and_a_mapped_address_is_its_ipv4_one() {
    let limits = one_request_per_ip();
    assert!(limits.charge_ip(ip("198.51.100.1"), false).is_ok());
    assert!(
        limits.charge_ip(ip("198.51.100.2"), false).is_ok(),
        "neighbouring IPv4 addresses are different clients"
    );
    assert!(
        limits.charge_ip(ip("::ffff:198.51.100.1"), false).is_err(),
        "an IPv4-mapped address counts as its IPv4 address"
    );
}

#[test]
fn failed_logins_from_one_ipv6_64_back_off_together_and_spare_other_64s() {
    let backoff = LoginBackoff::default();
    for host in 0..=FREE_FAILED_LOGINS {
        // A new address of the same /64 for every attempt.
        backoff.failed(ip(&format!("2001:db8:5:6::{:x}", host + 1)));
    }
    assert!(backoff.check(ip("2001:db8:5:6::abcd")).is_err());
    assert!(backoff.check(ip("2001:db8:5:7::1")).is_ok());
    backoff.succeeded(ip("2001:db8:5:6::99"));
    assert!(backoff.check(ip("2001:db8:5:6::1")).is_ok());
}

#[test]
fn a_trusted_proxy_on_an_ipv4_mapped_peer_address_is_recognised() {
    // A dual-stack listener sees an IPv4 proxy as ::ffff:a.b.c.d.
    let limits = limits("10.0.0.0/8");
    let client = limits.client_ip(ip("::ffff:10.1.2.3"), &forwarded("198.51.100.1"));
    assert_eq!(client, ip("198.51.100.1"));
}
