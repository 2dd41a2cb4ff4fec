//! The data pipeline's records, one definition per Parquet schema (DESIGN §4). Each is a plain
//! serde struct; [`crate::table`] maps rows to Arrow and Parquet, so the struct is the schema.
//!
//! Every record is keyed by `id`, the sha256 (hex) of the Dockerfile's bytes as collected, which
//! every later stage keeps: a row can always be traced back to its source.

pub use codi_files::sha256_hex;
use serde::{Deserialize, Serialize};

/// A record with an id: what incremental stages and joins key on.
pub trait Keyed {
    fn id(&self) -> &str;
}

/// An output row's input: the id it was derived from.
pub trait Derived {
    /// The column that holds it.
    const SOURCE_COLUMN: &'static str;
    fn source_id(&self) -> &str;
}

/// A compact key for sets of ids: the first 128 bits of a hex sha256 (ids that are not hex are
/// hashed first).
pub fn id_key(id: &str) -> u128 {
    match id.get(..32).and_then(|prefix| u128::from_str_radix(prefix, 16).ok()) {
        Some(key) => key,
        None => id_key(&sha256_hex(id.as_bytes())),
    }
}

/// A file the Dockerfile reaches: a script it runs or copies, or a manifest that decides its
/// stack (package.json, requirements.txt, pom.xml, go.mod …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedFile {
    /// Relative to the build context (the Dockerfile's directory).
    pub path: String,
    /// `manifest` or `script`.
    pub role: String,
    /// `found`, `missing`, `outside-context`, `too-large` or `not-text`.
    pub status: String,
    /// The text, when found (manifests and scripts are small; larger ones are `too-large`).
    pub content: Option<String>,
}

/// The files of `related` found in the build context, each with its text when it was read.
pub fn found_files(related: &[RelatedFile]) -> impl Iterator<Item = (&str, Option<&str>)> {
    related.iter().filter(|r| r.status == "found").map(|r| (r.path.as_str(), r.content.as_deref()))
}

/// The `source` of the records `codi-synthesize` makes (variants of the sample projects).
pub const SYNTHETIC_SOURCE: &str = "synthetic";

/// `data/raw/manifest.parquet`: a collected Dockerfile and its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRecord {
    pub id: String,
    /// `github`, `local` or [`SYNTHETIC_SOURCE`].
    pub source: String,
    /// `owner/name` on GitHub; the collected root directory for local trees.
    pub repo: String,
    /// The Dockerfile's path in the repository or tree.
    pub path: String,
    /// Commit (GitHub) or `HEAD`-less local marker; empty when unknown.
    pub git_ref: String,
    pub url: String,
    /// SPDX identifier of the repository's licence; `NOASSERTION` when unknown.
    pub license: String,
    /// RFC 3339, UTC.
    pub fetched_at: String,
    /// Size of the Dockerfile in bytes.
    pub bytes: u64,
    /// The Dockerfile's text (UTF-8; other encodings are rejected at collection).
    pub content: String,
    /// The stack the search looked for (GitHub) or the analyzer's guess (local), if any.
    pub stack_hint: Option<String>,
    pub related: Vec<RelatedFile>,
    /// The split group: records of one group form one cluster, and so land in one split (a
    /// synthesized project's variants share their seed's). `None`: the near-duplicate clusters
    /// alone decide.
    #[serde(default)]
    pub group: Option<String>,
}

/// A parse diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticRow {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRow {
    pub index: u32,
    pub name: Option<String>,
    pub line: u32,
    /// The base as written (image reference, `scratch`, or an earlier stage's name).
    pub base: String,
}

/// A lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmellRow {
    /// The rule's name (`install-after-source-copy`).
    pub rule_id: String,
    /// DL… or CD….
    pub code: String,
    pub severity: String,
    pub line: u32,
    pub message: String,
}

/// What the container runs at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CmdFlags {
    /// `CMD` or `ENTRYPOINT`.
    pub keyword: String,
    /// `exec` or `shell`.
    pub form: String,
    pub program: Option<String>,
    pub shell_wrapper: bool,
    pub inline_chain: bool,
    pub uses_exec: bool,
    pub scripts: Vec<String>,
    pub runtime_installs: Vec<String>,
    pub migrations: Vec<String>,
    pub background: Vec<String>,
}

/// A finding of hadolint itself (`codi data label --hadolint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HadolintRow {
    pub code: String,
    pub level: String,
    pub line: u32,
}

/// `data/labeled/labeled.parquet`: the analyzer's view of a raw Dockerfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledRecord {
    pub id: String,
    pub source: String,
    pub repo: String,
    pub path: String,
    pub license: String,
    pub content: String,
    pub related: Vec<RelatedFile>,
    pub diagnostics: Vec<DiagnosticRow>,
    pub stages: Vec<StageRow>,
    /// Every stage's base image as written, final last.
    pub base_images: Vec<String>,
    pub stack: Option<String>,
    pub framework: Option<String>,
    pub package_manager: Option<String>,
    pub confidence: f32,
    /// Findings outside the security category.
    pub smells: Vec<SmellRow>,
    pub cmd: Option<CmdFlags>,
    /// Security findings (secrets, root, TLS off, insecure flags …).
    pub security: Vec<SmellRow>,
    /// 0–1; see `codi_label::quality`.
    pub quality: f32,
    /// `None` unless hadolint was asked for and ran.
    pub hadolint: Option<Vec<HadolintRow>>,
    /// The raw record's split group.
    #[serde(default)]
    pub group: Option<String>,
}

/// How many values of one kind were redacted (the values themselves are never written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    pub kind: String,
    pub count: u32,
}

/// `data/curated/curated.parquet`: a normalized, redacted Dockerfile with its dedup keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CuratedRecord {
    pub id: String,
    pub source: String,
    pub repo: String,
    pub path: String,
    pub license: String,
    pub stack: Option<String>,
    pub framework: Option<String>,
    pub package_manager: Option<String>,
    pub quality: f32,
    /// Normalized and redacted.
    pub content: String,
    /// Context files, redacted like the content.
    pub related: Vec<RelatedFile>,
    /// sha256 of the normalized content.
    pub exact_hash: String,
    /// sha256 of the canonical syntax tree (blind to comments, layout and instruction case).
    pub semantic_hash: String,
    /// MinHash LSH band keys (see `codi_standardize::minhash`).
    pub lsh_bands: Vec<u64>,
    /// The id of the cluster's smallest member; the row's own id when it has no near duplicate
    /// and no group.
    pub cluster_id: String,
    pub cluster_size: u32,
    pub redactions: Vec<Redaction>,
    pub kept: bool,
    /// Why the row was filtered out (`exact-duplicate`, `too-short`, `no-from` …).
    pub filter_reason: Option<String>,
    /// The raw record's split group: its members join one cluster.
    #[serde(default)]
    pub group: Option<String>,
}

/// `data/pairs/pairs.parquet` and `data/splits/{train,val,test}.parquet`: one training example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRecord {
    pub pair_id: String,
    pub source_id: String,
    pub cluster_id: String,
    /// `rewrite`, `rank` or `explain`.
    pub task: String,
    pub stack: String,
    pub rule_ids: Vec<String>,
    pub instruction: String,
    /// JSON.
    pub input: String,
    /// JSON. Never Dockerfile text: rule ids, parameters, orders, reasons.
    pub output: String,
    /// Pretraining text.
    pub raw: String,
    /// `<INPUT>…</INPUT><OUTPUT>…</OUTPUT>`.
    pub instruct: String,
    /// JSON list of chat messages (system, user, assistant), rendered with the model's own
    /// chat template at training time.
    pub chat: String,
}

/// A row a stage could not keep, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub id: String,
    /// Where it came from (a path, a URL, a search page).
    pub origin: String,
    /// A short, stable reason (`not-utf8`, `too-large`, `exact-duplicate` …), counted in stats.
    pub reason: String,
    pub detail: String,
}

macro_rules! keyed {
    ($($record:ty => $field:ident),+ $(,)?) => {
        $(impl Keyed for $record {
            fn id(&self) -> &str {
                &self.$field
            }
        })+
    };
}

keyed!(RawRecord => id, LabeledRecord => id, CuratedRecord => id, PairRecord => pair_id, Reject => id);

macro_rules! derived {
    ($($record:ty => $field:ident),+ $(,)?) => {
        $(impl Derived for $record {
            const SOURCE_COLUMN: &'static str = stringify!($field);
            fn source_id(&self) -> &str {
                &self.$field
            }
        })+
    };
}

derived!(RawRecord => id, LabeledRecord => id, CuratedRecord => id, PairRecord => source_id);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(
            id_key("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            0xe3b0_c442_98fc_1c14_9afb_f4c8_996f_b924
        );
        assert_ne!(id_key("not hex"), id_key("also not hex"));
    }
}
