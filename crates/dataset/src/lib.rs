//! codi-dataset: the data infrastructure every pipeline stage stands on (DESIGN §1, §4, §9).
//!
//! - [`records`]: the record types, one per Parquet schema, each keyed by the sha256 of the
//!   Dockerfile it came from;
//! - [`table`]: Parquet tables of records (the serde struct is the schema), written atomically;
//! - [`pipeline`]: what every stage shares: shards, incremental reuse by content hash, stats
//!   whose counts reconcile, progress;
//! - [`Layout`]: the data directory, one subdirectory per stage.
//!
//! It knows nothing of Dockerfiles: the linter and the fuzz targets never compile it.

mod error;
mod layout;
pub mod pipeline;
pub mod records;
pub mod table;

pub use error::{Error, Result};
pub use layout::Layout;
