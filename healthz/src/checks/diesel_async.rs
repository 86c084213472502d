//! diesel-async's pools: `bb8::Pool` and `deadpool::managed::Pool` of an
//! `AsyncDieselConnectionManager` for `AsyncPgConnection` (feature
//! `diesel-async-postgres`) or `AsyncMysqlConnection` (feature
//! `diesel-async-mysql`), under the pooled rule of `super::pool`.
//!
//! The round trip is diesel-async's own verified recycling query, `SELECT
//! 1` through diesel, bounded by the check's deadline. On the deadpool pool
//! a connection that failed or hung is detached and busy is proven on a
//! connection the pool's manager opens outside the pool; on the bb8 pool,
//! the bb8 check's rule applies (`healthz::checks::bb8`: bb8 cannot give a
//! connection up, so a failed one is replaced instead).
//!
//! Build the pools lazily (deadpool's `build`, bb8's `build_unchecked`)
//! with wait and connect timeouts (deadpool's `Timeouts`, bb8's
//! `connection_timeout`), so that the application starts while the
//! database is down and its own requests are bounded.

use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, PoolableConnection, RecyclingMethod,
};

use crate::check::CheckError;

/// diesel-async's verified recycling query on `connection`.
async fn select_one<C>(connection: &mut C) -> Result<(), CheckError>
where
    C: PoolableConnection + 'static,
    for<'a> diesel::dsl::select<diesel::dsl::AsExprOf<i32, diesel::sql_types::Integer>>:
        diesel_async::methods::LoadQuery<'a, C, i32>,
    diesel::query_builder::SqlQuery: diesel_async::methods::ExecuteDsl<C>,
{
    connection
        .ping(&RecyclingMethod::Verified)
        .await
        .map_err(|error| CheckError::unavailable(CheckError::DATABASE).with_detail(error))
}

macro_rules! diesel_async_pools {
    ($connection:ty) => {
        #[cfg(feature = "bb8")]
        impl super::bb8::Manager for AsyncDieselConnectionManager<$connection> {
            const PUBLIC: &'static str = CheckError::DATABASE;
            const PING: &'static str = "SELECT 1";

            fn ping(
                connection: &mut $connection,
            ) -> impl std::future::Future<Output = Result<(), CheckError>> + Send + '_ {
                select_one(connection)
            }
        }

        impl super::pool::DeadpoolBackend for AsyncDieselConnectionManager<$connection> {
            type Lent = deadpool::managed::Object<Self>;
            const PUBLIC: &'static str = CheckError::DATABASE;
            const PING: &'static str = "SELECT 1";

            fn ping(
                connection: &mut $connection,
            ) -> impl std::future::Future<Output = Result<(), CheckError>> + Send + '_ {
                select_one(connection)
            }

            fn detach(lent: deadpool::managed::Object<Self>) {
                drop(deadpool::managed::Object::take(lent));
            }
        }

        /// Takes a connection from the application's own pool and runs
        /// `SELECT 1` on it, both before the deadline, under the pooled
        /// rule: a connection that failed or hung is detached, and busy is
        /// proven on a spare connection opened by the pool's manager.
        #[diagnostic::do_not_recommend]
        impl crate::Check for deadpool::managed::Pool<AsyncDieselConnectionManager<$connection>> {
            async fn check(&self) -> Result<(), CheckError> {
                super::pool::check(self).await
            }
        }
    };
}

#[cfg(feature = "diesel-async-postgres")]
diesel_async_pools!(diesel_async::AsyncPgConnection);

#[cfg(feature = "diesel-async-mysql")]
diesel_async_pools!(diesel_async::AsyncMysqlConnection);
