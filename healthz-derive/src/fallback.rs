//! The impl emitted beside compile errors.
//!
//! Without it, every use of the state as `HealthChecks` (`state.probes()`,
//! a `Probes<AppState>` field) would add an error of its own and bury the
//! real mistake. The stub has the default configuration and no checks, and
//! never names a field type or a `with` function, so it cannot fail to
//! compile for the reasons the real impl would.

use proc_macro2::TokenStream;

use crate::ast::Input;
use crate::expand::{self, ConfigValues, Dispatch};

pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let krate = input.krate();
    let config = expand::config(&krate, &ConfigValues::default(), &[]);
    expand::impl_block(
        input.ident,
        input.generics,
        &krate,
        &config,
        Dispatch::NoChecks,
    )
}
