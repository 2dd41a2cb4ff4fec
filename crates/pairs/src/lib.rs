//! codi-pairs: training pairs from the curated Dockerfiles (`data/pairs/pairs.parquet`) and
//! their train/val/test split (`data/splits/`), DESIGN §4.
//!
//! Every pair is derived from the rules catalog and the analysis: the catalog's rules are
//! rendered for the Dockerfile's project exactly as `codi rewrite` does, and the tasks ask the
//! model to choose among, rank and explain those candidates. No target is Dockerfile text.

mod split;

use std::path::{Path, PathBuf};

use codi_core::analysis::ProjectFiles;
use codi_core::project::Project;
use codi_core::rewrite::{Rewrite, Ruleset};
use codi_core::syntax::InstructionKind;
use codi_dataset::Layout;
use codi_dataset::pipeline::{InputKey, Outcome, Progress, RowStage, Shard, StageFiles, Stats};
use codi_dataset::records::{CuratedRecord, PairRecord, Reject, found_files, sha256_hex};
use codi_tasks::Styles;

pub use split::{SPLITS, SplitOptions, clusters_in_several_splits, split};

/// Bumped when pairs change for the same input; the catalog's own hash is added to it.
pub const VERSION: &str = "pairs-3";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] codi_core::Error),
    #[error(transparent)]
    Dataset(#[from] codi_dataset::Error),
    #[error("{0}")]
    Options(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Options {
    /// `data/curated`.
    pub curated: PathBuf,
    /// `data/pairs`.
    pub out: PathBuf,
    /// `patterns/rules.yml`; its templates are in `templates/` beside it.
    pub catalog: PathBuf,
    pub shard: Shard,
    pub full: bool,
}

impl Options {
    /// `curated/` into `pairs/` of `layout`, with the rules of `catalog`: every shard,
    /// incremental.
    pub fn in_layout(layout: &Layout, catalog: &Path) -> Self {
        Self {
            curated: layout.curated(),
            out: layout.pairs(),
            catalog: catalog.to_owned(),
            shard: Shard::ALL,
            full: false,
        }
    }
}

/// The catalog's fingerprint: a change to a rule or a template makes new pairs.
fn catalog_hash(catalog: &Path, templates: &Path) -> Result<String> {
    let mut bytes =
        std::fs::read(catalog).map_err(|source| codi_dataset::Error::Io { path: catalog.to_owned(), source })?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(templates)
        .map_err(|source| codi_dataset::Error::Io { path: templates.to_owned(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for name in names {
        bytes.extend(std::fs::read(&name).map_err(|source| codi_dataset::Error::Io { path: name.clone(), source })?);
    }
    Ok(sha256_hex(&bytes)[..16].to_owned())
}

/// Derives the pairs of every kept curated Dockerfile of the shard.
pub fn run(options: &Options, progress: &dyn Progress) -> Result<Stats> {
    let rules = Ruleset::load(&options.catalog, None)?;
    let stage = RowStage {
        name: "pairs".into(),
        fingerprint: format!(
            "{VERSION}+{}+catalog-{}",
            codi_core::lint::VERSION,
            catalog_hash(&options.catalog, &rules.templates_dir)?
        ),
        input: StageFiles::new(&options.curated, "curated"),
        output: StageFiles::new(&options.out, "pairs"),
        shard: options.shard,
        full: options.full,
    };
    let compute = |record: CuratedRecord| {
        let project = project_of(&record);
        let result = rules.rewrite(&project);
        let made = pairs(&record, &result);
        if made.is_empty() {
            let (reason, detail) = match (&record.stack, result.rejected.first()) {
                (_, Some(rejected)) => {
                    ("rule-defect", format!("{}: {}", rejected.rule_id, rejected.reasons.join("; ")))
                }
                (None, None) => ("clean-no-stack", "no finding to explain and no stack for the rules".to_owned()),
                (Some(stack), None) => {
                    ("clean-no-rule", format!("no finding to explain and no rule of stack {stack} applies"))
                }
            };
            Outcome::Rejected(Reject {
                id: record.id.clone(),
                origin: format!("{}:{}", record.repo, record.path),
                reason: reason.to_owned(),
                detail,
            })
        } else {
            Outcome::Rows(made)
        }
    };
    let tally = |pair: &PairRecord, stats: &mut Stats| {
        stats.count("pairs_by_task", &pair.task);
        stats.count("pairs_by_stack", &pair.stack);
        stats.count("pairs_by_stack_and_task", &format!("{}/{}", pair.stack, pair.task));
    };
    Ok(stage.run(progress, InputKey::kept, compute, tally)?)
}

/// The pairs of one curated Dockerfile, in task order (rewrite, rank, explain): the examples
/// [`codi_tasks::examples`] makes of it, each rendered in the three training styles. A clean
/// file no rule applies to has none.
pub fn pairs(record: &CuratedRecord, rewrite: &Rewrite) -> Vec<PairRecord> {
    let stack = record.stack.clone().unwrap_or_else(|| "unknown".to_owned());
    codi_tasks::examples(&record.content, rewrite)
        .into_iter()
        .map(|example| {
            let task = example.prompt.task.as_str();
            let output = example.answer.to_json();
            let styles = Styles::render(&example.prompt, &output);
            PairRecord {
                pair_id: sha256_hex(format!("{}:{task}", record.id).as_bytes()),
                source_id: record.id.clone(),
                cluster_id: record.cluster_id.clone(),
                task: task.to_owned(),
                stack: stack.clone(),
                rule_ids: example.rule_ids,
                instruction: example.prompt.instruction.to_owned(),
                input: example.prompt.input_json(),
                output,
                raw: styles.raw,
                instruct: styles.instruct,
                chat: styles.chat,
            }
        })
        .collect()
}

/// The project the rules are matched against: the context files collected with the Dockerfile,
/// and the files its COPY and ADD instructions name (they exist in its build context).
pub fn project_of(record: &CuratedRecord) -> Project {
    let context_bytes = record.content.len() as u64
        + record.related.iter().filter_map(|r| r.content.as_ref()).map(|c| c.len() as u64).sum::<u64>();
    let directory = record.path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let name = format!("{}/{directory}", record.repo);
    let mut project = Project::in_memory(
        name.trim_end_matches('/'),
        "Dockerfile",
        &record.content,
        ProjectFiles::from_found(found_files(&record.related)),
        context_bytes,
    );
    let literal = |raw: &str| !raw.contains(['*', '?', '[', '$']) && !raw.contains("://") && !raw.ends_with('/');
    let mut copied = Vec::new();
    for instruction in &project.dockerfile.instructions {
        if let InstructionKind::Copy(list) | InstructionKind::Add(list) = &instruction.kind
            && instruction.flag_value("from").is_none()
        {
            for source in list.sources().iter().filter(|s| literal(&s.raw)) {
                let path = source.raw.trim_start_matches("./").trim_matches('"').to_owned();
                if !path.is_empty() && path != "." {
                    copied.push(path);
                }
            }
        }
    }
    project.files.paths.extend(copied);
    project.files.paths.sort();
    project.files.paths.dedup();
    project
}
