//! Page tokens are opaque and tamper-evident, for any cursor, any listing
//! and any alteration (property tests).

use proptest::prelude::*;
use shop_runtime::server::page_token::{InvalidPageToken, PageTokens};

fn tokens() -> PageTokens {
    PageTokens::new("property-test-key".to_string().into())
}

proptest! {
    #[test]
    fn every_cursor_reads_back_from_its_own_token(
        scope in ".{0,40}",
        name in ".{0,60}",
        id in any::<u128>(),
    ) {
        let cursor = (name, id.to_string());
        let token = tokens().issue(&scope, &cursor);
        prop_assert_eq!(tokens().check::<(String, String)>(&scope, &token), Ok(cursor));
    }

    #[test]
    fn changing_any_character_of_a_token_is_detected(
        name in ".{0,40}",
        position in any::<prop::sample::Index>(),
        replacement in prop::char::range('-', 'z'),
    ) {
        let token = tokens().issue("listing", &name);
        let index = position.index(token.len());
        let original = token.as_bytes()[index] as char;
        prop_assume!(original != replacement);
        let mut forged = token.clone();
        forged.replace_range(index..=index, &replacement.to_string());
        prop_assert_eq!(tokens().check::<String>("listing", &forged), Err(InvalidPageToken));
    }

    #[test]
    fn a_token_is_refused_by_every_other_listing(a in ".{0,30}", b in ".{0,30}") {
        prop_assume!(a != b);
        let token = tokens().issue(&a, &1);
        prop_assert_eq!(tokens().check::<i32>(&b, &token), Err(InvalidPageToken));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused(name in ".{0,40}") {
        let other = PageTokens::new("another-key".to_string().into());
        let token = other.issue("listing", &name);
        prop_assert_eq!(tokens().check::<String>("listing", &token), Err(InvalidPageToken));
    }

    #[test]
    fn arbitrary_strings_are_refused_not_crashed_on(junk in ".{0,200}") {
        prop_assert!(tokens().check::<String>("listing", &junk).is_err());
    }
}
