//! The analyzer's SQL functions, registered in every session by [`register`].

use datafusion::prelude::SessionContext;

/// Registers every UDF and UDAF of this module in `ctx`.
pub fn register(_ctx: &SessionContext) {}
