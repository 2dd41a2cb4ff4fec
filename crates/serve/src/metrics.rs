//! `/metrics` in Prometheus' text format: requests by endpoint and status, latency histograms,
//! decoder tokens and their rate, the queue, the engine's batching and prompt cache, and the model
//! and adapter as labels of an info metric.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use crate::service::Generation;

/// Latency buckets (seconds): from a cached heuristic answer to a long explanation.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Counters {
    /// (endpoint, status) → requests.
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    pub(crate) fn observe(&self, endpoint: &str, status: u16, seconds: f64) {
        let mut c = self.counters.lock().expect("metrics lock");
        *c.requests.entry((endpoint.to_owned(), status)).or_default() += 1;
        let histogram = c.latency.entry(endpoint.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (count, bound) in histogram.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
    }

    /// The exposition text.
    pub(crate) fn render(
        &self,
        generation: Option<&Generation>,
        queue_depth: usize,
        queue_limit: usize,
        telemetry_failures: u64,
    ) -> String {
        let c = self.counters.lock().expect("metrics lock");
        let mut out = String::new();
        metric(&mut out, "codi_requests_total", "counter", "Requests by endpoint and status.");
        for ((endpoint, status), n) in &c.requests {
            let _ = writeln!(out, "codi_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
        }
        metric(&mut out, "codi_request_duration_seconds", "histogram", "Request latency by endpoint.");
        for (endpoint, h) in &c.latency {
            for (count, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "codi_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "codi_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "codi_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}", h.sum);
            let _ = writeln!(out, "codi_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}", h.count);
        }
        metric(&mut out, "codi_queue_depth", "gauge", "Requests admitted and not yet answered.");
        let _ = writeln!(out, "codi_queue_depth {queue_depth}");
        metric(&mut out, "codi_queue_limit", "gauge", "Requests admitted at most.");
        let _ = writeln!(out, "codi_queue_limit {queue_limit}");
        metric(&mut out, "codi_telemetry_failures_total", "counter", "Rankings the telemetry file could not record.");
        let _ = writeln!(out, "codi_telemetry_failures_total {telemetry_failures}");
        if let Some(generation) = generation {
            metric(&mut out, "codi_model_info", "gauge", "The model and adapter answering.");
            let adapter = generation.adapter.as_ref().map_or("none", |a| a.version.as_str());
            let _ = writeln!(
                out,
                "codi_model_info{{model_id=\"{}\",adapter_version=\"{}\",mode=\"{}\"}} 1",
                escape(&generation.model_id),
                escape(adapter),
                generation.mode.as_str()
            );
            if let Some(stats) = &generation.engine {
                let engine = [
                    ("codi_engine_forwards_total", "Decoder forwards run.", &stats.forwards),
                    ("codi_engine_steps_total", "Request steps run.", &stats.steps),
                    (
                        "codi_engine_batched_steps_total",
                        "Steps run together with other requests' steps.",
                        &stats.batched_steps,
                    ),
                    ("codi_engine_rows_total", "Rows of the steps run.", &stats.rows),
                    ("codi_engine_tokens_total", "Token positions run through the decoder.", &stats.tokens),
                    (
                        "codi_engine_cached_tokens_total",
                        "Prompt tokens answered from the prompt cache.",
                        &stats.cached_tokens,
                    ),
                ];
                for (name, help, value) in engine {
                    metric(&mut out, name, "counter", help);
                    let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
                }
                metric(&mut out, "codi_engine_waiting_steps", "gauge", "Steps waiting for the engine now.");
                let _ = writeln!(out, "codi_engine_waiting_steps {}", stats.waiting.load(Ordering::Relaxed));
                let busy = stats.busy_micros.load(Ordering::Relaxed) as f64 / 1e6;
                let tokens = stats.tokens.load(Ordering::Relaxed) as f64;
                metric(
                    &mut out,
                    "codi_model_tokens_per_second",
                    "gauge",
                    "Token positions per second of decoder time.",
                );
                let _ = writeln!(out, "codi_model_tokens_per_second {}", if busy > 0.0 { tokens / busy } else { 0.0 });
            }
        }
        out
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
