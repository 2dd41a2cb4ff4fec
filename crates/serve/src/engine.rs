//! One model in memory, on its own thread, running the decoder steps of every concurrent request
//! together (continuous batching): each request's rank, choose or explain logic runs on its own
//! thread and hands its steps to the engine through [`EngineRunner`]; the engine takes whatever
//! steps are waiting, runs the prompts one by one (through a prompt cache) and every other step
//! in one stacked forward, and hands each its own result back.
//!
//! The prompt cache belongs to one engine, and an engine to one model and adapter: loading
//! another adapter starts a new engine with an empty cache, so no cached state built under one
//! adapter can answer a request under another (llama.cpp's and vLLM's stale-cache bugs).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use codi_model::{KvCache, Readout, Runner, Step, Stepped, Transformer, run_steps};

/// Prompts kept in the cache, newest last.
const PROMPT_CACHE_ENTRIES: usize = 32;
/// A cached prompt shorter than this is not worth reusing as a prefix.
const MIN_SHARED_PREFIX: usize = 16;

/// What the engine did, for `/metrics`.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Forwards run.
    pub forwards: AtomicU64,
    /// Steps run (one per request call), and their rows.
    pub steps: AtomicU64,
    pub rows: AtomicU64,
    /// Steps that ran in a forward with other requests' steps.
    pub batched_steps: AtomicU64,
    /// Token positions run through the decoder.
    pub tokens: AtomicU64,
    /// Prompt tokens answered from the prompt cache instead of the decoder.
    pub cached_tokens: AtomicU64,
    /// Steps waiting for the engine now.
    pub waiting: AtomicU64,
    /// Microseconds the decoder was busy.
    pub busy_micros: AtomicU64,
}

struct Job {
    step: Step,
    reply: SyncSender<Stepped>,
}

/// The handle request threads run their steps through.
#[derive(Debug, Clone)]
pub(crate) struct EngineRunner {
    jobs: Sender<Job>,
    stats: Arc<EngineStats>,
}

impl Runner for EngineRunner {
    fn step(&self, step: Step) -> Stepped {
        let (reply, result) = sync_channel(1);
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        self.jobs.send(Job { step, reply }).expect("the engine outlives its runners");
        result.recv().expect("the engine answers every step")
    }
}

/// Starts the engine thread for `model` (with its adapter attached, if any: the engine and its
/// prompt cache serve that one adapter). The thread ends when the last runner is dropped.
pub(crate) fn start(model: Transformer, max_rows: usize) -> (EngineRunner, Arc<EngineStats>) {
    let (jobs, queue) = channel();
    let stats = Arc::new(EngineStats::default());
    let engine = Engine { model, max_rows: max_rows.max(1), cache: Vec::new(), stats: Arc::clone(&stats) };
    std::thread::Builder::new()
        .name("codi-engine".into())
        .spawn(move || engine.run(&queue))
        .expect("the engine thread starts");
    (EngineRunner { jobs, stats: Arc::clone(&stats) }, stats)
}

struct Engine {
    model: Transformer,
    max_rows: usize,
    /// (prompt tokens, their cache).
    cache: Vec<(Vec<u32>, KvCache)>,
    stats: Arc<EngineStats>,
}

impl Engine {
    /// Continuous batching: the steps after filled caches (scoring, generated tokens) that are
    /// waiting run together, then one prompt, then again whatever arrived meanwhile — so while a
    /// prompt runs, the other requests' next steps gather into one forward.
    fn run(mut self, queue: &Receiver<Job>) {
        let mut prompts: VecDeque<Job> = VecDeque::new();
        let mut steps: Vec<Job> = Vec::new();
        loop {
            if prompts.is_empty() && steps.is_empty() {
                let Ok(job) = queue.recv() else { return };
                self.sort(job, &mut prompts, &mut steps);
            }
            for job in queue.try_iter() {
                self.sort(job, &mut prompts, &mut steps);
            }
            if !steps.is_empty() {
                let mut batch: Vec<Job> = Vec::new();
                let mut rows = 0;
                for job in std::mem::take(&mut steps) {
                    let n = job.step.ids.len();
                    if rows + n > self.max_rows && !batch.is_empty() {
                        self.forward(std::mem::take(&mut batch));
                        rows = 0;
                    }
                    rows += n;
                    batch.push(job);
                }
                self.forward(batch);
            } else if let Some(job) = prompts.pop_front() {
                let stepped = self.prompt(job.step);
                // A request that gave up (timed out) no longer listens; nothing to do then.
                let _ = job.reply.send(stepped);
            }
        }
    }

    fn sort(&self, job: Job, prompts: &mut VecDeque<Job>, steps: &mut Vec<Job>) {
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        if job.step.cache.is_empty() { prompts.push_back(job) } else { steps.push(job) }
    }

    /// Runs steps after filled caches as one forward.
    fn forward(&self, jobs: Vec<Job>) {
        let count = jobs.len() as u64;
        self.count(&jobs.iter().map(|j| &j.step).collect::<Vec<_>>());
        if count > 1 {
            self.stats.batched_steps.fetch_add(count, Ordering::Relaxed);
        }
        let (steps, replies): (Vec<Step>, Vec<SyncSender<Stepped>>) =
            jobs.into_iter().map(|j| (j.step, j.reply)).unzip();
        for (stepped, reply) in self.decode(steps).into_iter().zip(replies) {
            let _ = reply.send(stepped);
        }
    }

    /// Runs a prompt into an empty cache, from the longest cached prompt it extends.
    fn prompt(&mut self, step: Step) -> Stepped {
        let cacheable = step.ids.len() == 1 && step.valid.is_none() && step.readout == Readout::Cache;
        if !cacheable {
            self.count(&[&step]);
            return self.decode(vec![step]).pop().expect("one result");
        }
        let ids = &step.ids[0];
        let hit = self
            .cache
            .iter()
            .enumerate()
            .filter(|(_, (cached, _))| cached.len() <= ids.len() && ids.starts_with(cached))
            .max_by_key(|(_, (cached, _))| cached.len())
            .map(|(at, (cached, _))| (at, cached.len()));
        let (cache, done) = match hit {
            Some((at, len)) if len == ids.len() || len >= MIN_SHARED_PREFIX => {
                let entry = self.cache.remove(at);
                let cache = entry.1.clone();
                self.cache.push(entry);
                (cache, len)
            }
            _ => (KvCache::default(), 0),
        };
        self.stats.cached_tokens.fetch_add(done as u64, Ordering::Relaxed);
        let cache = if done == ids.len() {
            cache
        } else {
            let rest = Step { ids: vec![ids[done..].to_vec()], valid: None, cache, readout: Readout::Cache };
            self.count(&[&rest]);
            self.decode(vec![rest]).pop().expect("one result").cache
        };
        if done < ids.len() {
            if self.cache.len() >= PROMPT_CACHE_ENTRIES {
                self.cache.remove(0);
            }
            self.cache.push((ids.clone(), cache.clone()));
        }
        Stepped { cache, values: Vec::new() }
    }

    fn decode(&self, steps: Vec<Step>) -> Vec<Stepped> {
        let started = std::time::Instant::now();
        let out = run_steps(&self.model, steps);
        self.stats.busy_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        out
    }

    fn count(&self, steps: &[&Step]) {
        let stats = &self.stats;
        stats.forwards.fetch_add(1, Ordering::Relaxed);
        stats.steps.fetch_add(steps.len() as u64, Ordering::Relaxed);
        for step in steps {
            stats.rows.fetch_add(step.ids.len() as u64, Ordering::Relaxed);
            stats.tokens.fetch_add(step.ids.iter().map(Vec::len).sum::<usize>() as u64, Ordering::Relaxed);
        }
    }
}
