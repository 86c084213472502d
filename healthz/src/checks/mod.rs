//! [`Check`](crate::Check) implementations for common clients, one file per
//! dependency, each behind the feature of the same name.
//!
//! A backend's file uses the seam the rest of the crate offers:
//! [`deadline_or_default`](crate::check::deadline_or_default) for its
//! deadline, [`CheckError`](crate::CheckError)'s public messages and
//! constructors, [`blocking`](crate::check::blocking) for a synchronous
//! client, `deadline::in_time` for a single call under the deadline, and
//! `pool` for the rule every pooled backend follows (`pool::deadpool` runs
//! it on any deadpool pool).

#[cfg(feature = "bb8")]
pub mod bb8;
mod deadline;
#[cfg(any(feature = "diesel-postgres", feature = "diesel-mysql"))]
pub mod diesel;
#[cfg(any(feature = "diesel-async-postgres", feature = "diesel-async-mysql"))]
mod diesel_async;
#[cfg(feature = "fred")]
mod fred;
#[cfg(feature = "tonic")]
pub mod grpc;
#[cfg(any(feature = "hyper-util", feature = "reqwest"))]
pub mod http;
#[cfg(feature = "lapin")]
mod lapin;
#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "mysql-async")]
mod mysql_async;
#[cfg(feature = "async-nats")]
mod nats;
mod pool;
#[cfg(feature = "tokio-postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sea-orm")]
mod sea_orm;
#[cfg(any(feature = "sqlx", feature = "sqlx-0-9"))]
mod sqlx;
