//! codi-core: the Dockerfile core.
pub mod syntax;
