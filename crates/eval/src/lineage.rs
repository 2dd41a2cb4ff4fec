//! `codi lineage`: the chain dataset → adapter → eval run → promotion, from any link of it, with
//! every hash on it checked against the files as they are now.

use std::path::{Path, PathBuf};

use codi_core::catalog::{Catalog, Promotion};
use codi_model::adapter::{AdapterMetadata, checksum, sha256_model};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{Store, StoredRun};

/// One link: a file (or directory) and the hash the chain recorded for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// `dataset`, `base model`, `adapter file`, `adapter`, `eval run`, `promotion`.
    pub kind: &'static str,
    pub name: String,
    pub path: Option<PathBuf>,
    /// The recorded hash (or id).
    pub expected: String,
    /// What the file hashes to now (`None`: it is missing).
    pub actual: Option<String>,
    pub ok: bool,
}

/// Every link from the target down to its data, and on to the promotions that cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub target: String,
    pub links: Vec<Link>,
}

impl Chain {
    pub fn is_intact(&self) -> bool {
        self.links.iter().all(|l| l.ok)
    }

    fn file(
        &mut self,
        kind: &'static str,
        name: String,
        path: &Path,
        expected: &str,
        hash: impl Fn(&Path) -> Option<String>,
    ) {
        let actual = hash(path);
        let ok = actual.as_deref() == Some(expected);
        self.links.push(Link { kind, name, path: Some(path.to_owned()), expected: expected.to_owned(), actual, ok });
    }

    fn entry(&mut self, kind: &'static str, name: String, ok: bool) {
        self.links.push(Link {
            kind,
            name: name.clone(),
            path: None,
            expected: name.clone(),
            actual: ok.then_some(name),
            ok,
        });
    }
}

/// The chain of `target`: an adapter directory, a run id of `store`, or a promotion id of
/// `catalog`.
pub fn lineage(target: &str, store: &Store, catalog: &Path) -> Result<Chain> {
    let mut chain = Chain { target: target.to_owned(), links: Vec::new() };
    let promotions = read_promotions(catalog)?;
    if Path::new(target).join("metadata.json").is_file() {
        adapter(&mut chain, Path::new(target))?;
        let metadata_sha = codi_files::sha256_file(&Path::new(target).join("metadata.json")).ok();
        for id in store.run_ids()? {
            let run = store.read(&id)?;
            if run.results.lineage.adapters.iter().any(|a| Some(&a.metadata_sha256) == metadata_sha.as_ref()) {
                chain.entry("eval run", id.clone(), true);
                cited_by(&mut chain, &promotions, &id);
            }
        }
    } else if store.run_ids()?.iter().any(|id| id == target) {
        let run = store.read(target)?;
        eval_run(&mut chain, &run)?;
        cited_by(&mut chain, &promotions, target);
    } else if let Some(promotion) = promotions.iter().find(|p| p.id == target) {
        chain.entry("promotion", promotion.id.clone(), true);
        let run_id = promotion.metrics.get("eval_run").and_then(|v| v.as_str()).unwrap_or_default();
        match store.read(run_id) {
            Ok(run) => {
                let evaluated = run.results.lineage.adapters.iter().any(|a| a.system == promotion.adapter_version);
                let name = format!("{} evaluated by run {run_id}", promotion.adapter_version);
                chain.entry("adapter", name, evaluated);
                eval_run(&mut chain, &run)?;
            }
            Err(_) => chain.entry("eval run", format!("{run_id} (cited by {}, not in the store)", promotion.id), false),
        }
    } else {
        return Err(Error::NotFound(format!(
            "`{target}` is neither an adapter directory, a run of {}, nor a promotion in {}",
            store.runs_dir().display(),
            catalog.display()
        )));
    }
    Ok(chain)
}

fn read_promotions(catalog: &Path) -> Result<Vec<Promotion>> {
    let text = std::fs::read_to_string(catalog).map_err(|e| Error::io(catalog, e))?;
    let parsed = Catalog::parse(&text, None)
        .map_err(|problems| codi_core::Error::Catalog { path: catalog.to_owned(), problems })?;
    Ok(parsed.llm_assist.promotions)
}

fn sha256(path: &Path) -> Option<String> {
    codi_files::sha256_file(path).ok()
}

/// The adapter's files and what it was trained from.
fn adapter(chain: &mut Chain, dir: &Path) -> Result<()> {
    let metadata = AdapterMetadata::read(&dir.join("metadata.json"))?;
    let name = format!("{}@{}", metadata.adapter_name, metadata.adapter_version);
    for (split, record) in &metadata.dataset {
        chain.file("dataset", format!("{split} split {name} was trained on"), &record.path, &record.sha256, sha256);
    }
    let base = &metadata.base_model;
    let base_path = PathBuf::from(base.spec());
    chain.file("base model", base.name.clone(), &base_path, &base.sha256, |p| sha256_model(p).ok());
    for (file, expected) in &metadata.checksums {
        let read = |p: &Path| std::fs::read(p).ok().map(|bytes| checksum(&bytes));
        chain.file("adapter file", format!("{name}: {file}"), &dir.join(file), expected, read);
    }
    Ok(())
}

/// The run's data, base and adapters (each with its own chain).
fn eval_run(chain: &mut Chain, run: &StoredRun) -> Result<()> {
    let lineage = &run.results.lineage;
    chain.entry("eval run", run.results.run_id.clone(), true);
    for file in &lineage.dataset {
        chain.file("dataset", format!("{} split evaluated", file.split), &file.path, &file.sha256, sha256);
    }
    let base = &lineage.base_model;
    chain.file("base model", "base evaluated".into(), Path::new(&base.path), &base.sha256, |p| sha256_model(p).ok());
    for evaluated in &lineage.adapters {
        let metadata = evaluated.dir.join("metadata.json");
        chain.file("adapter", evaluated.system.clone(), &metadata, &evaluated.metadata_sha256, sha256);
        if metadata.is_file() {
            adapter(chain, &evaluated.dir)?;
        }
    }
    Ok(())
}

fn cited_by(chain: &mut Chain, promotions: &[Promotion], run_id: &str) {
    for promotion in promotions.iter().filter(|p| p.metrics.get("eval_run").and_then(|v| v.as_str()) == Some(run_id)) {
        chain.entry("promotion", format!("{} ({})", promotion.id, promotion.rule_id), true);
    }
}
