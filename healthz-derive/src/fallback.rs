//! The impl emitted beside compile errors.
//!
//! Without it, every use of the state as `HealthChecks` (`state.probes()`,
//! a `Probes<AppState>` field) would add an error of its own and bury the
//! real mistake. The stub has the struct's settings as far as they could be
//! read (defaults where they could not) and no checks, and never names a
//! field type or a `with` function, so it cannot fail to compile for the
//! reasons the real impl would.

use proc_macro2::TokenStream;

use crate::ast::Input;
use crate::expand::{self, Dispatch};

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    expand::impl_block(input, input.generics, &[], Dispatch::NoChecks)
}
