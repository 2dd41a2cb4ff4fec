//! The three tasks and their names in the pairs' `task` column.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Choose the rule of the catalog (and its parameters) that best rewrites the Dockerfile.
    Rewrite,
    /// Order the candidates the rules rendered, best first.
    Rank,
    /// Explain the problems the chosen rule fixes (or, when no rule applies, the file's
    /// findings), citing codes.
    Explain,
}

impl Task {
    pub const ALL: [Self; 3] = [Self::Rewrite, Self::Rank, Self::Explain];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rewrite => "rewrite",
            Self::Rank => "rank",
            Self::Explain => "explain",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task `{0}` (expected rewrite, rank or explain)")]
pub struct UnknownTask(pub String);

impl FromStr for Task {
    type Err = UnknownTask;

    fn from_str(text: &str) -> Result<Self, UnknownTask> {
        Self::ALL.into_iter().find(|t| t.as_str() == text).ok_or_else(|| UnknownTask(text.to_owned()))
    }
}
