//! The held-out pairs, read back into the prompts they were trained from. Every prompt is
//! rebuilt from the pair's `task` and `input` with the same code that wrote it, and must equal
//! the pair's chat messages byte for byte; a pair where it does not is rejected, with why, and
//! counted.

use std::path::{Path, PathBuf};

use codi_dataset::records::PairRecord;
use codi_dataset::table;
use codi_tasks::{Answer, Message, Prompt, Task, TaskInput};
use serde::{Deserialize, Serialize};

use crate::config::Split;
use crate::error::{Error, Result};

/// One held-out pair, ready to ask.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub pair_id: String,
    pub split: String,
    pub stack: String,
    pub rule_ids: Vec<String>,
    pub prompt: Prompt,
    pub gold: Answer,
}

/// A split file read, and its sha256 (the run's lineage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFile {
    pub split: String,
    pub path: PathBuf,
    pub sha256: String,
    pub rows: usize,
}

/// A pair that could not be evaluated, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub pair_id: String,
    pub reason: String,
}

/// What a run evaluates. `rows` = `examples` + `rejected` + `skipped` (other tasks, or past the
/// limit).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub files: Vec<SplitFile>,
    pub examples: Vec<Example>,
    pub rejected: Vec<Rejected>,
    pub skipped: usize,
}

impl Dataset {
    /// Reads the `split` files of the splits directory `dir`, keeping `tasks` and at most `limit`
    /// pairs (0: all), in file order.
    pub fn load(dir: &Path, split: Split, tasks: &[Task], limit: usize) -> Result<Self> {
        let mut dataset = Self { files: Vec::new(), examples: Vec::new(), rejected: Vec::new(), skipped: 0 };
        for name in split.names() {
            let path = dir.join(format!("{name}.parquet"));
            if !path.is_file() {
                return Err(Error::data(&path, "no such split (make one with `make data-prepare`)"));
            }
            let rows: Vec<PairRecord> = table::read_all(&path)?;
            let sha256 = codi_files::sha256_file(&path).map_err(|e| Error::io(&path, e))?;
            dataset.files.push(SplitFile { split: (*name).to_owned(), path: path.clone(), sha256, rows: rows.len() });
            for row in rows {
                // A row of an unknown task is rejected below, with why.
                let wanted = row.task.parse::<Task>().ok().is_none_or(|task| tasks.contains(&task));
                if !wanted || (limit > 0 && dataset.examples.len() >= limit) {
                    dataset.skipped += 1;
                    continue;
                }
                match example(&row, name) {
                    Ok(example) => dataset.examples.push(example),
                    Err(reason) => dataset.rejected.push(Rejected { pair_id: row.pair_id.clone(), reason }),
                }
            }
        }
        if dataset.examples.is_empty() {
            let files: Vec<String> = dataset.files.iter().map(|f| f.path.display().to_string()).collect();
            let why =
                if dataset.rejected.is_empty() { "no pairs of the tasks asked for" } else { "every pair was rejected" };
            return Err(Error::data(files.join(", "), why));
        }
        Ok(dataset)
    }

    /// Rows read from the files.
    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows).sum()
    }
}

fn example(row: &PairRecord, split: &str) -> Result<Example, String> {
    let task: Task = row.task.parse().map_err(|e: codi_tasks::UnknownTask| e.to_string())?;
    let input: TaskInput = serde_json::from_str(&row.input).map_err(|e| format!("`input`: {e}"))?;
    let prompt = Prompt::from_input(task, input);
    let chat: Vec<Message> = serde_json::from_str(&row.chat).map_err(|e| format!("`chat`: {e}"))?;
    if chat.len() != 3 || chat[..2] != prompt.messages() {
        return Err("prompt-skew: the prompt rebuilt from `input` differs from the pair's chat messages".into());
    }
    let output = serde_json::from_str(&row.output).map_err(|e| format!("`output`: {e}"))?;
    let gold = Answer::from_value(task, output).map_err(|e| format!("`output`: {e}"))?;
    if chat[2].content != gold.to_json() {
        return Err("answer-skew: the chat's answer differs from `output`, the gold".into());
    }
    let options = match task {
        Task::Rank => prompt.input.candidates.len(),
        Task::Rewrite => prompt.input.applicable_rules.len(),
        Task::Explain => 1,
    };
    if options == 0 {
        return Err(format!("no-options: a {task} prompt with nothing to choose from"));
    }
    Ok(Example {
        pair_id: row.pair_id.clone(),
        split: split.to_owned(),
        stack: row.stack.clone(),
        rule_ids: row.rule_ids.clone(),
        prompt,
        gold,
    })
}
