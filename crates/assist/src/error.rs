pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] codi_model::Error),
    #[error("the prompt offers no {0} to choose from")]
    NothingToChoose(&'static str),
}
