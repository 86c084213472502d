//! [`Check`](crate::Check) implementations for common clients, one file per
//! dependency, each behind the feature of the same name.

#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "sqlx")]
mod sqlx;
