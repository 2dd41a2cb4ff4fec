//! The eval report, `llm_eval.html`: one self-contained HTML5 page (inline CSS and SVG, no
//! scripts, nothing fetched) with a section per run, newest first. Each section shows the run's
//! data, systems, notes and lineage; per task a metric table with intervals and per-stack bars of
//! the primary metric; a forest plot of the comparisons; reliability diagrams; timing; and the
//! first examples with every system's answer. Every string from the data is HTML-escaped, and a
//! figure that is not a number (an empty input) is drawn as nothing, written as "—".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use codi_files::escape_html as esc;
use codi_tasks::Task;

use crate::metrics;
use crate::results::{Calibration, Comparison, ExampleRecord, Results, TaskResults};
use crate::stats::Estimate;

/// One run as the report shows it.
#[derive(Debug, Clone, Copy)]
pub struct ReportRun<'a> {
    pub results: &'a Results,
    /// Its `examples.jsonl`, in file order.
    pub examples: &'a [ExampleRecord],
}

/// Examples shown per task (the first ones, in file order).
const EXAMPLES_PER_TASK: usize = 5;
/// Characters of a prompt, gold answer or answer shown.
const EXCERPT_CHARS: usize = 400;
/// … and at most this many lines.
const EXCERPT_LINES: usize = 16;
/// Okabe–Ito colours, told apart by colour-blind readers too; a system's colour is its place in
/// the run's system list.
const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#000000"];
/// Stack labels under the bars are cut to this many characters (the full name is in the tooltip).
const STACK_LABEL_CHARS: usize = 18;

/// The whole report: a table of contents, then one section per run in the order given (newest
/// first), each with `id` = the run id, so `llm_eval.html#<run-id>` links to it.
pub fn html(runs: &[ReportRun<'_>]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>codi eval report</title>\n<style>\n",
    ));
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n<header>\n<h1>codi eval report</h1>\n");
    contents(&mut out, runs);
    out.push_str("</header>\n<main>\n");
    for run in runs {
        section(&mut out, run);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

const CSS: &str = r#":root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --alt: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px; color: var(--fg); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 21px; margin: 0 0 4px; }
h3 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h4 { font-size: 15px; margin: 20px 0 8px; }
h5 { font-size: 11px; margin: 0 0 4px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; padding: 8px;
  background: var(--alt); border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--alt); }
tbody th { white-space: nowrap; }
h2 code { font-size: inherit; }
table.figures td, table.timing td { font-variant-numeric: tabular-nums; white-space: nowrap; }
table.answers { width: 100%; }
table.answers td:nth-child(2) { width: 62%; }
small, .muted { color: var(--muted); }
nav ol { padding-left: 22px; }
section.run { margin-top: 32px; padding-top: 16px; border-top: 3px solid var(--fg); }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.warn { color: #9a3412; }
ul.plain { margin: 0; padding-left: 18px; }
figure { margin: 8px 0 16px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12.5px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.example { margin: 12px 0; padding: 12px; border: 1px solid var(--line); border-radius: 6px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-bottom: 8px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--fg); }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .label { font-size: 12px; font-weight: 600; }
svg .note { font-size: 10.5px; fill: var(--muted); }
svg .legend { font-size: 12px; }
svg .grid { stroke: #e4e7eb; stroke-width: 1; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .ref { stroke: var(--muted); stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .ci { stroke: var(--fg); stroke-width: 1.4; }
svg .band { fill: var(--alt); }
"#;

/// The table of contents: one link per run.
fn contents(out: &mut String, runs: &[ReportRun<'_>]) {
    if runs.is_empty() {
        out.push_str("<p>No runs.</p>\n");
        return;
    }
    out.push_str("<nav>\n<h2>Runs, newest first</h2>\n<ol>\n");
    for run in runs {
        let r = run.results;
        let systems: Vec<&str> = r.systems.iter().map(|s| s.name.as_str()).collect();
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">{}</a> <span class=\"muted\">{} · split {} · {} examples · {}</span></li>",
            esc(&fragment(&r.run_id)),
            esc(&r.run_id),
            esc(&r.created_at),
            esc(&r.data.split),
            r.data.examples,
            esc(&systems.join(", ")),
        );
    }
    out.push_str("</ol>\n</nav>\n");
}

/// One run's section.
fn section(out: &mut String, run: &ReportRun<'_>) {
    let r = run.results;
    let colours = Colours::of(r);
    let _ = writeln!(out, "<section class=\"run\" id=\"{}\">", esc(&r.run_id));
    let _ = writeln!(
        out,
        "<h2>Run <code>{}</code></h2>\n<p class=\"muted\">Created {}</p>",
        esc(&r.run_id),
        esc(&r.created_at)
    );
    header(out, r, &colours);
    lineage(out, r);
    for (task, figures) in by_task(&r.tasks) {
        task_figures(out, task, figures, &colours);
    }
    comparisons(out, r, &colours);
    calibration(out, r, &colours);
    timing(out, r, &colours);
    examples(out, r, run.examples, &colours);
    out.push_str("</section>\n");
}

/// Data, systems and notes.
fn header(out: &mut String, r: &Results, colours: &Colours) {
    let d = &r.data;
    let mut rejected = d.rejected.len().to_string();
    if !d.rejected.is_empty() {
        let items: Vec<String> =
            d.rejected.iter().map(|x| format!("<code>{}</code>: {}", esc(&x.pair_id), esc(&x.reason))).collect();
        rejected.push_str(&list(&items));
    }
    let rows = [
        row(["Directory", &code(&d.dir.display().to_string())]),
        row(["Split", &esc(&d.split)]),
        row(["Rows read", &d.rows.to_string()]),
        row(["Examples", &d.examples.to_string()]),
        row(["Skipped (other tasks, past the limit)", &d.skipped.to_string()]),
        row(["Rejected", &rejected]),
    ];
    out.push_str("<h3>Data</h3>\n");
    table(out, "kv", &[] as &[&str], &rows);

    out.push_str("<h3>Systems</h3>\n");
    let rows: Vec<Vec<String>> = r
        .systems
        .iter()
        .map(|s| {
            let adapter = s.adapter.as_ref().map_or_else(|| "—".to_owned(), |p| code(&p.display().to_string()));
            vec![colours.label(&s.name), esc(&s.kind), adapter]
        })
        .collect();
    table(out, "systems", &["System", "Kind", "Adapter"], &rows);

    out.push_str("<h3>Notes</h3>\n");
    if r.notes.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        let notes: Vec<String> = r.notes.iter().map(|n| esc(n)).collect();
        out.push_str(&list(&notes));
    }
}

/// Where every input came from.
fn lineage(out: &mut String, r: &Results) {
    let l = &r.lineage;
    let mut rows = Vec::new();
    let repo =
        l.base_model.repo.as_ref().map_or_else(String::new, |repo| format!(" <small>from {}</small>", esc(repo)));
    rows.push(row(["Base model", &format!("{}{repo}", code(&l.base_model.path)), &digest(&l.base_model.sha256)]));
    for a in &l.adapters {
        let mut identity = format!(
            "{}@{} <small>{} · {} files checksummed</small>",
            esc(&a.adapter_name),
            esc(&a.adapter_version),
            code(&a.dir.display().to_string()),
            a.checksums.len()
        );
        if a.rules_version != l.rules_version {
            let _ = write!(
                identity,
                "<br><span class=\"warn\">trained on rules version {}</span>",
                digest(&a.rules_version)
            );
        }
        rows.push(row([
            &format!("Adapter {}", esc(&a.system)),
            &identity,
            &format!("{} <small>metadata.json</small>", digest(&a.metadata_sha256)),
        ]));
    }
    for f in &l.dataset {
        let identity = format!("{} <small>{} rows</small>", code(&f.path.display().to_string()), f.rows);
        rows.push(row([&format!("Dataset {}", esc(&f.split)), &identity, &digest(&f.sha256)]));
    }
    rows.push(row(["Rules version", &code(&l.catalog.display().to_string()), &digest(&l.rules_version)]));
    rows.push(row(["Code revision", &code(&l.code_revision), ""]));
    out.push_str("<h3>Lineage</h3>\n");
    table(out, "lineage", &["Input", "Identity", "sha256"], &rows);
}

/// A task's metric table and per-stack bars.
fn task_figures(out: &mut String, task: &str, figures: &TaskResults, colours: &Colours) {
    let _ = writeln!(out, "<h3>{} — n = {} pairs</h3>", esc(task), figures.sample_size);
    let _ = writeln!(
        out,
        "<p>Primary metric <code>{}</code>. Each cell: mean [95% bootstrap interval] and the examples behind it.</p>",
        esc(&figures.primary)
    );
    let columns = metric_columns(task, figures);
    let systems = colours.ordered(figures.systems.keys());
    let rows: Vec<Vec<String>> = systems
        .iter()
        .map(|system| {
            let overall = &figures.systems[*system].overall;
            let mut cells = vec![colours.label(system)];
            cells.extend(columns.iter().map(|m| estimate_cell(overall.get(*m))));
            cells
        })
        .collect();
    let mut head = vec!["System"];
    head.extend(columns.iter().copied());
    table(out, "figures", &head, &rows);
    match stack_bars(figures, &systems, colours) {
        Some(svg) => figure(
            out,
            &svg,
            &format!("{task}: {} by stack, one bar per system; whiskers are 95% intervals.", figures.primary),
        ),
        None => out.push_str("<p class=\"muted\">No per-stack figures.</p>\n"),
    }
}

/// The metrics of `task` that some system has, in report order (unknown ones last).
fn metric_columns<'a>(task: &str, figures: &'a TaskResults) -> Vec<&'a str> {
    let present: BTreeSet<&str> = figures.systems.values().flat_map(|s| s.overall.keys().map(String::as_str)).collect();
    let known: &[&str] = task.parse::<Task>().map_or(&[], metrics::names);
    let mut columns: Vec<&str> = known.iter().filter_map(|m| present.get(m).copied()).collect();
    columns.extend(present.iter().filter(|m| !known.contains(m)));
    columns
}

/// The forest plot of every (comparison, task).
fn comparisons(out: &mut String, r: &Results, colours: &Colours) {
    out.push_str("<h3>Comparisons</h3>\n");
    let rows: Vec<ForestRow<'_>> = r
        .comparisons
        .iter()
        .flat_map(|(name, tasks)| {
            by_task(tasks).into_iter().map(move |(task, comparison)| ForestRow { name, task, comparison })
        })
        .collect();
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">No comparisons (no adapter evaluated).</p>\n");
        return;
    }
    let caption = "Win rate of the first system over the second, example by example (ties count half), with its \
                   95% interval; right of 0.5 the first system is better. “all” pools every task's primary score.";
    figure(out, &forest(&rows, r, colours), caption);
}

/// Reliability diagrams, one per task.
fn calibration(out: &mut String, r: &Results, colours: &Colours) {
    let tasks: Vec<(&str, &BTreeMap<String, Calibration>)> =
        by_task(&r.calibration).into_iter().filter(|(_, systems)| !systems.is_empty()).collect();
    if tasks.is_empty() {
        return;
    }
    out.push_str("<h3>Calibration</h3>\n<div class=\"charts\">\n");
    for (task, systems) in tasks {
        let caption = format!(
            "{task}: accuracy against mean confidence per bin (point area ∝ examples); on the dashed diagonal a \
             system is right as often as it is confident."
        );
        figure(out, &reliability(task, systems, colours), &caption);
    }
    out.push_str("</div>\n");
}

/// Throughput and latency, task × system.
fn timing(out: &mut String, r: &Results, colours: &Colours) {
    if r.timing.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    for (task, systems) in by_task(&r.timing) {
        for system in colours.ordered(systems.keys()) {
            let t = &systems[system];
            rows.push(vec![
                esc(task),
                colours.label(system),
                t.examples.to_string(),
                num(t.seconds, 1),
                num(t.examples_per_second, 2),
                num(t.latency_p50_ms, 1),
                num(t.latency_p95_ms, 1),
                num(t.tokens_per_second, 1),
            ]);
        }
    }
    out.push_str("<h3>Timing</h3>\n");
    let head = ["Task", "System", "Examples", "Seconds", "Examples/s", "p50 ms", "p95 ms", "Tokens/s"];
    table(out, "timing", &head, &rows);
}

/// The first examples of each task, with every system's answer.
fn examples(out: &mut String, r: &Results, records: &[ExampleRecord], colours: &Colours) {
    out.push_str("<h3>Examples</h3>\n");
    if records.is_empty() {
        out.push_str("<p class=\"muted\">No examples recorded.</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>The first {EXAMPLES_PER_TASK} of each task, in file order; texts are cut at about {EXCERPT_CHARS} characters or {EXCERPT_LINES} lines.</p>"
    );
    let mut tasks: Vec<&str> = records.iter().map(|e| e.task.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    tasks.sort_by_key(|t| task_key(t));
    for task in tasks {
        let primary = r
            .tasks
            .get(task)
            .map(|t| t.primary.as_str())
            .or_else(|| task.parse::<Task>().ok().map(metrics::primary))
            .unwrap_or("score");
        let _ = writeln!(out, "<h4>{}</h4>", esc(task));
        for e in records.iter().filter(|e| e.task == task).take(EXAMPLES_PER_TASK) {
            example(out, e, primary, colours);
        }
    }
}

fn example(out: &mut String, e: &ExampleRecord, primary: &str, colours: &Colours) {
    let rules = if e.rule_ids.is_empty() { "—".to_owned() } else { esc(&e.rule_ids.join(", ")) };
    let _ = writeln!(
        out,
        "<article class=\"example\">\n<p><code>{}</code> · stack <b>{}</b> · rules {rules}</p>",
        esc(&e.pair_id),
        esc(&e.stack)
    );
    let _ = writeln!(
        out,
        "<div class=\"pair\"><div><h5>Prompt</h5>{}</div><div><h5>Gold</h5>{}</div></div>",
        pre(&e.prompt),
        pre(&e.gold)
    );
    let rows: Vec<Vec<String>> = colours
        .ordered(e.outputs.keys())
        .into_iter()
        .map(|system| {
            let o = &e.outputs[system];
            let problems = if o.problems.is_empty() {
                "—".to_owned()
            } else {
                list(&o.problems.iter().map(|p| esc(p)).collect::<Vec<_>>())
            };
            vec![
                colours.label(system),
                pre(&o.text),
                num(o.scores.get(primary).copied().unwrap_or(f64::NAN), 3),
                problems,
            ]
        })
        .collect();
    table(out, "answers", &["System", "Answer", primary, "Problems"], &rows);
    out.push_str("</article>\n");
}

// ---- charts ----------------------------------------------------------------------------------

/// A point in SVG user units.
type Point = (f64, f64);

/// The axis along which values run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Along {
    X,
    Y,
}

#[derive(Debug, Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Middle => "middle",
            Self::End => "end",
        }
    }
}

/// An SVG document built element by element. An element with a coordinate that is not finite
/// is left out, so no chart attribute ever reads "NaN".
#[derive(Debug)]
struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    fn new(width: f64, height: f64) -> Self {
        Self { width: width.ceil(), height: height.ceil(), body: String::new() }
    }

    /// Writes `<tag numbers.. attrs>inner</tag>` (or a self-closed tag without `inner`).
    fn element(&mut self, tag: &str, numbers: &[(&str, f64)], attrs: &str, inner: Option<&str>) {
        if !numbers.iter().all(|(_, v)| v.is_finite()) {
            return;
        }
        let _ = write!(self.body, "<{tag}");
        for (name, value) in numbers {
            let _ = write!(self.body, " {name}=\"{}\"", px(*value));
        }
        if !attrs.is_empty() {
            let _ = write!(self.body, " {attrs}");
        }
        let _ = match inner {
            Some(inner) => writeln!(self.body, ">{inner}</{tag}>"),
            None => writeln!(self.body, "/>"),
        };
    }

    fn line(&mut self, from: Point, to: Point, class: &str) {
        let numbers = [("x1", from.0), ("y1", from.1), ("x2", to.0), ("y2", to.1)];
        self.element("line", &numbers, &format!("class=\"{class}\""), None);
    }

    /// A filled rectangle, with a tooltip.
    fn rect(&mut self, corner: Point, size: Point, attrs: &str, tip: Option<&str>) {
        let numbers = [("x", corner.0), ("y", corner.1), ("width", size.0), ("height", size.1)];
        self.element("rect", &numbers, attrs, tip.map(title).as_deref());
    }

    fn circle(&mut self, centre: Point, r: f64, colour: &str, tip: &str) {
        let attrs = format!("fill=\"{colour}\" fill-opacity=\"0.7\" stroke=\"{colour}\"");
        self.element("circle", &[("cx", centre.0), ("cy", centre.1), ("r", r)], &attrs, Some(&title(tip)));
    }

    /// A line through the finite points.
    fn polyline(&mut self, points: &[Point], colour: &str) {
        let points: Vec<String> = points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{},{}", px(*x), px(*y)))
            .collect();
        if points.len() > 1 {
            let attrs =
                format!("points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"", points.join(" "));
            self.element("polyline", &[], &attrs, None);
        }
    }

    fn text(&mut self, at: Point, anchor: Anchor, class: &str, text: &str) {
        let attrs = format!("text-anchor=\"{}\" class=\"{class}\"", anchor.as_str());
        self.element("text", &[("x", at.0), ("y", at.1)], &attrs, Some(&esc(text)));
    }

    /// Text read bottom to top, centred on `at` (a y axis title).
    fn vertical_text(&mut self, at: Point, class: &str, text: &str) {
        let attrs =
            format!("text-anchor=\"middle\" class=\"{class}\" transform=\"rotate(-90 {} {})\"", px(at.0), px(at.1));
        self.element("text", &[("x", at.0), ("y", at.1)], &attrs, Some(&esc(text)));
    }

    /// The finished `<svg>`, sized by its viewBox so it scales.
    fn finish(self, label: &str) -> String {
        let (w, h) = (px(self.width), px(self.height));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
             aria-label=\"{label}\">\n{}{}</svg>\n",
            title(label),
            self.body,
            label = esc(label)
        )
    }
}

/// A plot's drawing area.
#[derive(Debug, Clone, Copy)]
struct Area {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl Area {
    fn right(self) -> f64 {
        self.left + self.width
    }

    fn bottom(self) -> f64 {
        self.top + self.height
    }

    fn centre(self) -> Point {
        (self.left + self.width / 2.0, self.top + self.height / 2.0)
    }
}

/// A linear map from values to SVG units.
#[derive(Debug, Clone, Copy)]
struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    fn at(self, value: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        r0 + (value - d0) / (d1 - d0) * (r1 - r0)
    }

    /// The value axis of `area` along `along`, over `domain`.
    fn of(area: Area, along: Along, domain: (f64, f64)) -> Self {
        let range = match along {
            Along::X => (area.left, area.right()),
            Along::Y => (area.bottom(), area.top),
        };
        Self { domain, range }
    }
}

/// Multiples of `step` from at most `lo` to at least `hi`.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step + 1e-9).floor() as i32;
    let last = (hi / step - 1e-9).ceil() as i32;
    (first..=last).map(|k| f64::from(k) * step).collect()
}

/// Gridlines at `ticks` across the plot, labelled on the axis side, the axis line, and its title.
fn axis(svg: &mut Svg, area: Area, along: Along, scale: Scale, ticks: &[f64], title: &str) {
    for &t in ticks {
        let p = scale.at(t);
        let label = tick_label(t);
        match along {
            Along::X => {
                svg.line((p, area.top), (p, area.bottom()), "grid");
                svg.text((p, area.bottom() + 15.0), Anchor::Middle, "tick", &label);
            }
            Along::Y => {
                svg.line((area.left, p), (area.right(), p), "grid");
                svg.text((area.left - 6.0, p + 4.0), Anchor::End, "tick", &label);
            }
        }
    }
    match along {
        Along::X => {
            svg.line((area.left, area.bottom()), (area.right(), area.bottom()), "axis");
            svg.text((area.centre().0, area.bottom() + 32.0), Anchor::Middle, "label", title);
        }
        Along::Y => {
            svg.line((area.left, area.top), (area.left, area.bottom()), "axis");
            svg.vertical_text((area.left - 40.0, area.centre().1), "label", title);
        }
    }
}

/// An interval's line with end caps, at `at` across the value axis.
fn whisker(svg: &mut Svg, along: Along, at: f64, ci: (f64, f64)) {
    const CAP: f64 = 4.0;
    let point = |value: f64, offset: f64| match along {
        Along::X => (value, at + offset),
        Along::Y => (at + offset, value),
    };
    svg.line(point(ci.0, 0.0), point(ci.1, 0.0), "ci");
    for end in [ci.0, ci.1] {
        svg.line(point(end, -CAP), point(end, CAP), "ci");
    }
}

const LEGEND_ROW: f64 = 18.0;

/// Colour swatches with their labels, one per row from `origin`.
fn legend(svg: &mut Svg, origin: Point, entries: &[(&str, String)]) {
    for (i, (colour, text)) in entries.iter().enumerate() {
        let y = origin.1 + i as f64 * LEGEND_ROW;
        svg.rect((origin.0, y), (12.0, 12.0), &format!("fill=\"{colour}\""), None);
        svg.text((origin.0 + 18.0, y + 10.5), Anchor::Start, "legend", text);
    }
}

/// The width and height a legend takes.
fn legend_size(entries: &[(&str, String)]) -> Point {
    let widest = entries.iter().map(|(_, t)| text_width(t, 12.0)).fold(0.0, f64::max);
    (widest + 18.0, entries.len() as f64 * LEGEND_ROW)
}

/// About how wide `text` is at a font size.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.58
}

/// Grouped bars of the primary metric: x = stacks, one bar per system, whiskers = intervals.
fn stack_bars(figures: &TaskResults, systems: &[&str], colours: &Colours) -> Option<String> {
    const BAR: f64 = 22.0;
    const GAP: f64 = 4.0;
    let primary = figures.primary.as_str();
    let stacks: BTreeSet<&str> = figures.systems.values().flat_map(|s| s.by_stack.keys().map(String::as_str)).collect();
    if stacks.is_empty() || systems.is_empty() {
        return None;
    }
    let estimate = |system: &str, stack: &str| figures.systems.get(system)?.by_stack.get(stack)?.get(primary);
    let values = stacks.iter().flat_map(|stack| systems.iter().filter_map(move |s| estimate(s, stack)));
    let (lo, hi) = values
        .flat_map(|e| [e.value, e.ci95[0], e.ci95[1]])
        .filter(|v| v.is_finite())
        .fold((0.0, 1.0), |(lo, hi), v| (f64::min(lo, v), f64::max(hi, v)));
    let ticks = ticks(lo, hi, 0.2);
    let domain = (ticks[0], ticks[ticks.len() - 1]);

    let labels: Vec<String> = stacks.iter().map(|s| shorten(s, STACK_LABEL_CHARS)).collect();
    let inner = systems.len() as f64 * (BAR + GAP) - GAP;
    let widest = labels.iter().map(|l| text_width(l, 11.0)).fold(0.0, f64::max);
    let group = (inner + 28.0).max(widest + 12.0).max(80.0);
    let area = Area { left: 64.0, top: 16.0, width: stacks.len() as f64 * group, height: 240.0 };
    let entries: Vec<(&str, String)> = systems.iter().map(|s| (colours.get(s), (*s).to_owned())).collect();
    let (legend_w, legend_h) = legend_size(&entries);
    let mut svg =
        Svg::new((area.right() + 16.0).max(area.left + legend_w + 16.0), area.bottom() + 62.0 + legend_h + 4.0);
    let y = Scale::of(area, Along::Y, domain);
    axis(&mut svg, area, Along::Y, y, &ticks, primary);
    if domain.0 < 0.0 {
        svg.line((area.left, y.at(0.0)), (area.right(), y.at(0.0)), "axis");
    }
    for (i, (stack, label)) in stacks.iter().zip(&labels).enumerate() {
        let left = area.left + i as f64 * group;
        let centre = left + group / 2.0;
        let n = systems.iter().filter_map(|s| estimate(s, stack)).map(|e| e.n).max().unwrap_or(0);
        svg.text((centre, area.bottom() + 15.0), Anchor::Middle, "tick", label);
        svg.text((centre, area.bottom() + 28.0), Anchor::Middle, "note", &format!("n = {n}"));
        for (j, system) in systems.iter().enumerate() {
            let Some(e) = estimate(system, stack) else { continue };
            let x = centre - inner / 2.0 + j as f64 * (BAR + GAP);
            let (top, base) = (y.at(e.value.max(0.0)), y.at(e.value.min(0.0)));
            let tip = format!("{system} · {stack}: {} · n = {}", interval(e), e.n);
            let fill = format!("fill=\"{}\"", colours.get(system));
            svg.rect((x, top), (BAR, (base - top).max(1.5)), &fill, Some(&tip));
            whisker(&mut svg, Along::Y, x + BAR / 2.0, (y.at(e.ci95[0]), y.at(e.ci95[1])));
        }
    }
    svg.line((area.left, area.bottom()), (area.right(), area.bottom()), "axis");
    svg.text((area.centre().0, area.bottom() + 44.0), Anchor::Middle, "label", "stack");
    legend(&mut svg, (area.left, area.bottom() + 58.0), &entries);
    Some(svg.finish(&format!("{primary} by stack")))
}

/// One row of the forest plot.
#[derive(Debug, Clone, Copy)]
struct ForestRow<'a> {
    name: &'a str,
    task: &'a str,
    comparison: &'a Comparison,
}

impl ForestRow<'_> {
    fn label(&self) -> String {
        format!("{} · {}", self.name, self.task)
    }

    fn annotation(&self) -> String {
        let c = self.comparison;
        let mut text = format!("{} · Δ {}", interval(&c.win_rate), signed(c.difference.value));
        let _ = write!(text, " · stacks won {}/{}", c.stacks_won, c.stacks_total);
        if let Some(p) = c.p_value {
            let _ = write!(text, " · p {}", p_value(p));
        }
        text
    }
}

/// Win rates with intervals, one row per (comparison, task), a reference line at 0.5.
fn forest(rows: &[ForestRow<'_>], r: &Results, colours: &Colours) -> String {
    const ROW: f64 = 26.0;
    let labels: Vec<String> = rows.iter().map(ForestRow::label).collect();
    let notes: Vec<String> = rows.iter().map(ForestRow::annotation).collect();
    let label_w = labels.iter().map(|l| text_width(l, 12.0)).fold(0.0, f64::max);
    let note_w = notes.iter().map(|n| text_width(n, 12.0)).fold(0.0, f64::max).max(text_width(NOTE_HEAD, 12.0));
    let area = Area { left: label_w + 20.0, top: 26.0, width: 340.0, height: rows.len() as f64 * ROW };
    let mut svg = Svg::new(area.right() + 16.0 + note_w + 8.0, area.bottom() + 44.0);
    let x = Scale::of(area, Along::X, (0.0, 1.0));
    for i in (0..rows.len()).step_by(2) {
        let top = area.top + i as f64 * ROW;
        svg.rect((0.0, top), (svg.width, ROW), "class=\"band\"", None);
    }
    axis(&mut svg, area, Along::X, x, &ticks(0.0, 1.0, 0.25), "win rate (ties count half)");
    svg.line((x.at(0.5), area.top - 6.0), (x.at(0.5), area.bottom()), "ref");
    svg.text((area.left - 10.0, area.top - 10.0), Anchor::End, "label", "comparison · task");
    svg.text((area.right() + 16.0, area.top - 10.0), Anchor::Start, "label", NOTE_HEAD);
    for (i, ((row, label), note)) in rows.iter().zip(&labels).zip(&notes).enumerate() {
        let centre = area.top + (i as f64 + 0.5) * ROW;
        let win = row.comparison.win_rate;
        svg.text((area.left - 10.0, centre + 4.0), Anchor::End, "legend", label);
        svg.text((area.right() + 16.0, centre + 4.0), Anchor::Start, "legend", note);
        whisker(&mut svg, Along::X, centre, (x.at(win.ci95[0]), x.at(win.ci95[1])));
        let tip = format!("{label}: win rate {} · n = {}", interval(&win), win.n);
        svg.circle((x.at(win.value), centre), 5.0, colours.of_comparison(row.name, r), &tip);
    }
    svg.finish("win rates of the comparisons")
}

const NOTE_HEAD: &str = "win rate [95%] · Δ mean · stacks · p";

/// A reliability diagram: per system, accuracy against mean confidence of each bin.
fn reliability(task: &str, by_system: &BTreeMap<String, Calibration>, colours: &Colours) -> String {
    let systems = colours.ordered(by_system.keys());
    let entries: Vec<(&str, String)> = systems
        .iter()
        .map(|s| {
            let c = &by_system[*s];
            let text =
                format!("{s}: T = {}, ECE = {} (fitted on {})", num(c.temperature, 2), num(c.ece, 3), c.fitted_on);
            (colours.get(s), text)
        })
        .collect();
    let (legend_w, legend_h) = legend_size(&entries);
    let area = Area { left: 64.0, top: 16.0, width: 300.0, height: 300.0 };
    let mut svg = Svg::new((area.right() + 20.0).max(area.left + legend_w + 16.0), area.bottom() + 52.0 + legend_h);
    let (x, y) = (Scale::of(area, Along::X, (0.0, 1.0)), Scale::of(area, Along::Y, (0.0, 1.0)));
    let ticks = ticks(0.0, 1.0, 0.2);
    axis(&mut svg, area, Along::X, x, &ticks, "mean confidence");
    axis(&mut svg, area, Along::Y, y, &ticks, "accuracy");
    svg.line((x.at(0.0), y.at(0.0)), (x.at(1.0), y.at(1.0)), "ref");
    let largest = by_system.values().flat_map(|c| &c.bins).map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    for system in &systems {
        let colour = colours.get(system);
        let bins: Vec<_> = by_system[*system].bins.iter().filter(|b| b.count > 0).collect();
        let points: Vec<Point> = bins.iter().map(|b| (x.at(b.confidence), y.at(b.accuracy))).collect();
        svg.polyline(&points, colour);
        for (b, point) in bins.iter().zip(&points) {
            let tip = format!(
                "{system} · [{}, {}): {} examples, confidence {}, accuracy {}",
                num(b.lower, 1),
                num(b.upper, 1),
                b.count,
                num(b.confidence, 3),
                num(b.accuracy, 3)
            );
            svg.circle(*point, 3.0 + 7.0 * (b.count as f64 / largest).sqrt(), colour, &tip);
        }
    }
    legend(&mut svg, (area.left, area.bottom() + 48.0), &entries);
    svg.finish(&format!("{task}: reliability diagram"))
}

// ---- helpers -----------------------------------------------------------------------------------

/// Each system's colour and display order: the run's system list, then any other name its
/// figures mention.
#[derive(Debug)]
struct Colours(Vec<String>);

impl Colours {
    fn of(r: &Results) -> Self {
        let mut names: Vec<String> = r.systems.iter().map(|s| s.name.clone()).collect();
        let mentioned = r.tasks.values().flat_map(|t| t.systems.keys());
        let mentioned = mentioned.chain(r.calibration.values().flat_map(BTreeMap::keys));
        for name in mentioned.chain(r.timing.values().flat_map(BTreeMap::keys)) {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        Self(names)
    }

    fn position(&self, system: &str) -> usize {
        self.0.iter().position(|s| s == system).unwrap_or(self.0.len())
    }

    fn get(&self, system: &str) -> &'static str {
        PALETTE[self.position(system) % PALETTE.len()]
    }

    /// The adapter's colour for a comparison named `<adapter>_vs_<other>`.
    fn of_comparison(&self, name: &str, r: &Results) -> &'static str {
        let adapter = r.systems.iter().map(|s| s.name.as_str()).find(|s| name.starts_with(&format!("{s}_vs_")));
        adapter.map_or(PALETTE[0], |s| self.get(s))
    }

    /// `names` in display order.
    fn ordered<'a>(&self, names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
        let mut names: Vec<&str> = names.map(String::as_str).collect();
        names.sort_by_key(|n| (self.position(n), *n));
        names
    }

    /// A system's name with its colour swatch, as HTML.
    fn label(&self, system: &str) -> String {
        format!("<span class=\"swatch\" style=\"background:{}\"></span>{}", self.get(system), esc(system))
    }
}

/// A map keyed by task, in report order: rewrite, rank, explain, then any other key (`all`).
fn by_task<V>(map: &BTreeMap<String, V>) -> Vec<(&str, &V)> {
    let mut entries: Vec<(&str, &V)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_by_key(|(k, _)| task_key(k));
    entries
}

fn task_key(task: &str) -> (usize, &str) {
    (Task::ALL.iter().position(|t| t.as_str() == task).unwrap_or(Task::ALL.len()), task)
}

/// A table; `head` is text (none: no header row), `rows` are HTML cells, the first a row header.
fn table<S: AsRef<str>>(out: &mut String, class: &str, head: &[S], rows: &[Vec<String>]) {
    let _ = writeln!(out, "<table class=\"{class}\">");
    if !head.is_empty() {
        out.push_str("<thead><tr>");
        for h in head {
            let _ = write!(out, "<th>{}</th>", esc(h.as_ref()));
        }
        out.push_str("</tr></thead>\n");
    }
    out.push_str("<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}>{cell}</{tag}>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// A `<ul>` of HTML items.
fn list(items: &[String]) -> String {
    let mut out = String::from("<ul class=\"plain\">");
    for item in items {
        let _ = write!(out, "<li>{item}</li>");
    }
    out.push_str("</ul>");
    out
}

fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = writeln!(out, "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>", esc(caption));
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", esc(text))
}

/// A text's first lines, cut at about [`EXCERPT_CHARS`] or [`EXCERPT_LINES`], in a `<pre>`.
fn pre(text: &str) -> String {
    format!("<pre>{}</pre>", esc(&excerpt(text, EXCERPT_CHARS, EXCERPT_LINES)))
}

fn excerpt(text: &str, max_chars: usize, max_lines: usize) -> String {
    let by_chars = text.char_indices().nth(max_chars).map(|(i, _)| i);
    let by_lines = text.match_indices('\n').nth(max_lines.saturating_sub(1)).map(|(i, _)| i);
    let cut = match (by_chars, by_lines) {
        // End on a line break when one is not too far back.
        (Some(c), line) if line.is_none_or(|line| line > c) => {
            text[..c].rfind('\n').filter(|&i| i > c / 2).unwrap_or(c)
        }
        (_, Some(line)) => line,
        (_, None) => return text.to_owned(),
    };
    let rest = &text[cut..];
    if rest.trim().is_empty() {
        return text.to_owned();
    }
    format!("{}\n… ({} more characters)", &text[..cut], rest.chars().count())
}

/// `text` cut to `max` characters, with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// A sha256 (or revision) shortened to 12 characters, the full value in its title.
fn digest(full: &str) -> String {
    let hex = full.strip_prefix("sha256:").unwrap_or(full);
    if hex.is_empty() {
        return "—".to_owned();
    }
    let short: String = hex.chars().take(12).collect();
    format!("<code title=\"{}\">{}</code>", esc(full), esc(&short))
}

/// A metric cell: mean [interval] over n, or "—" when absent or not a number.
fn estimate_cell(e: Option<&Estimate>) -> String {
    match e {
        Some(e) if e.value.is_finite() => format!("{}<br><small>n = {}</small>", interval(e), e.n),
        _ => "—".to_owned(),
    }
}

/// "0.750 [0.500, 1.000]"; without the interval when it is not a number.
fn interval(e: &Estimate) -> String {
    let mut text = num(e.value, 3);
    if e.ci95.iter().all(|v| v.is_finite()) {
        let _ = write!(text, " [{}, {}]", num(e.ci95[0], 3), num(e.ci95[1], 3));
    }
    text
}

/// `value` with `digits` decimals; "—" when it is not a finite number.
fn num(value: f64, digits: usize) -> String {
    if value.is_finite() { format!("{value:.digits$}") } else { "—".to_owned() }
}

fn signed(value: f64) -> String {
    if value.is_finite() { format!("{value:+.3}") } else { "—".to_owned() }
}

fn p_value(p: f64) -> String {
    if !p.is_finite() {
        "—".to_owned()
    } else if p < 0.001 {
        "< 0.001".to_owned()
    } else {
        format!("= {p:.3}")
    }
}

/// A tick value without trailing zeros: 0, 0.25, 0.5, 1.
fn tick_label(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_owned() } else { text.to_owned() }
}

/// SVG user units, one decimal.
fn px(value: f64) -> String {
    format!("{value:.1}")
}

fn title(text: &str) -> String {
    format!("<title>{}</title>", esc(text))
}

/// A URL fragment naming `id`: bytes outside a safe set percent-encoded.
fn fragment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn ticks_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0, 0.2).len(), 6);
        assert_eq!(ticks(-0.3, 1.0, 0.2).first().copied().map(tick_label).as_deref(), Some("-0.4"));
        let labels: Vec<String> = ticks(0.0, 1.0, 0.25).into_iter().map(tick_label).collect();
        assert_eq!(labels, ["0", "0.25", "0.5", "0.75", "1"]);
    }

    #[test]
    fn excerpt_ends_on_a_line() {
        let text = format!("{}\n{}", "a".repeat(300), "b".repeat(300));
        let cut = excerpt(&text, 400, 16);
        assert!(cut.starts_with(&"a".repeat(300)) && !cut.contains('b'), "{cut}");
        assert!(cut.ends_with("(301 more characters)"), "{cut}");
        assert_eq!(excerpt("short\n", 400, 1), "short\n");
        assert_eq!(excerpt(&"é".repeat(500), 400, 16).chars().filter(|c| *c == 'é').count(), 400);
        let lines = "x\n".repeat(30);
        assert_eq!(excerpt(&lines, 400, 16), format!("{}\n… (29 more characters)", "x\n".repeat(15) + "x"));
    }

    #[test]
    fn svg_leaves_out_elements_that_are_not_numbers() {
        let mut svg = Svg::new(10.0, 10.0);
        svg.line((0.0, f64::NAN), (1.0, 1.0), "grid");
        svg.circle((f64::INFINITY, 1.0), 2.0, "#000", "x");
        svg.polyline(&[(0.0, 0.0), (f64::NAN, 1.0)], "#000");
        let out = svg.finish("t");
        assert!(!out.contains("NaN") && !out.contains("inf") && !out.contains("<line") && !out.contains("<circle"));
    }

    #[test]
    fn digest_keeps_the_full_value_in_the_title() {
        let full = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(digest(&full), format!("<code title=\"{full}\">abababababab</code>"));
        assert_eq!(digest(""), "—");
    }

    #[test]
    fn fragment_percent_encodes() {
        assert_eq!(fragment("2024-01-02T03:04:05Z-ab12"), "2024-01-02T03:04:05Z-ab12");
        assert_eq!(fragment("a b#"), "a%20b%23");
    }
}
