//! [`Check`](crate::Check) implementations for common clients, one file per
//! dependency, each behind the feature of the same name.

#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlx", feature = "sqlx-0-9"))]
mod sqlx;
