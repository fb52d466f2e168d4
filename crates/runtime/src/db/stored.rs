//! The one conversion between an enum and the text a service stores for it.
//!
//! [`stored_enum!`](crate::stored_enum) gives an enum `as_str`, `ALL`, a [`std::str::FromStr`]
//! that fails with [`UnknownValue`] on anything it does not know, and the
//! `sqlx::Type`, `Decode` and `Encode` impls built on those two, so a column
//! read as `status AS "status: OrderStatus"` decodes through the same
//! parse: an unknown stored value is an error (answered INTERNAL), never a
//! silent `None` or a default.

/// A stored value no variant of the enum names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What was parsed, e.g. "order status".
    pub what: &'static str,
    /// The stored text.
    pub value: String,
}

/// Implements the stored text of an enum: `stored_enum!(Type, "what" {
/// Variant => "TEXT", ... })`; the text may be any `&'static str`
/// expression (a shared constant). The crate using it depends on `sqlx`.
#[macro_export]
macro_rules! stored_enum {
    ($ty:ident, $what:literal { $($variant:ident => $text:expr),+ $(,)? }) => {
        impl $ty {
            /// Every variant.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::db::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::db::UnknownValue {
                        what: $what,
                        value: s.to_string(),
                    })
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $ty {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $ty {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                Ok(<&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?.parse()?)
            }
        }

        impl<'q> ::sqlx::Encode<'q, ::sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Light {
        Red,
        Green,
    }

    crate::stored_enum!(Light, "light" { Red => "RED", Green => "GREEN" });

    #[test]
    fn values_round_trip_and_unknown_ones_are_errors() {
        for l in Light::ALL {
            assert_eq!(l.as_str().parse::<Light>(), Ok(*l));
        }
        let e = "BLUE".parse::<Light>().unwrap_err();
        assert_eq!(e.to_string(), r#"unknown light "BLUE""#);
        assert!("red".parse::<Light>().is_err());
    }
}
