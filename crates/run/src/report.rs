//! The run's reports: `report.md`, and `report.html`, one self-contained page (inline CSS, no
//! script, nothing fetched, no link but to its own sections) in the manner of the eval report.
//! Both show, per project, the LLM section — the recommended candidate, its confidence, the
//! explanation's excerpts — then every candidate in the ranker's order with the rules' figures
//! (`codi_core::rewrite::rows`, the table `codi rewrite` prints), and what failed. The HTML page
//! also carries each candidate's diff. Every string from the data is HTML-escaped.

use std::fmt::Write as _;

use codi_core::rewrite::{CandidateRow, Rewrite, rows};
use codi_files::escape_html as esc;

use crate::patch::{COMMIT_MESSAGE_FILE, PATCH_FILE};
use crate::record::{Explanation, ProjectRecord, RunRecord, Status, Step};

/// Characters of a summary or reason shown.
const EXCERPT_CHARS: usize = 600;

/// The run in Markdown; each project links to its own `codi rewrite` report.
pub(crate) fn markdown(run: &RunRecord, rewrites: &[Option<Rewrite>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# codi run `{}`\n", run.id);
    let _ = writeln!(out, "{}\n", header(run));
    let _ = writeln!(out, "| project | stack | candidates | recommended | confidence | mode | status |");
    let _ = writeln!(out, "|---|---|--:|---|--:|---|---|");
    for p in &run.projects {
        let [stack, count, recommended, confidence, mode, status] = summary(p);
        let _ = writeln!(
            out,
            "| [{0}]({0}/report.md) | {stack} | {count} | {1} | {confidence} | {mode} | {status} |",
            p.name,
            if recommended.is_empty() { "—".to_owned() } else { format!("`{recommended}`") }
        );
    }
    out.push('\n');
    for (p, rewrite) in run.projects.iter().zip(rewrites) {
        let _ = writeln!(out, "## {}\n", p.name);
        let _ = writeln!(out, "`{}`{}\n", p.path.display(), digest_note(p));
        let _ = writeln!(out, "{}\n", verdict(p));
        if let Some(note) = patch_note(p) {
            let _ = writeln!(out, "{note}\n");
        }
        match (&p.explanation, unexplained(p)) {
            (Some(e), _) => explanation_md(&mut out, e),
            (None, Some(why)) => {
                let _ = writeln!(out, "{why}\n");
            }
            (None, None) => {}
        }
        if let Some(rewrite) = rewrite.as_ref().filter(|r| !r.candidates.is_empty()) {
            let _ = writeln!(
                out,
                "| # | candidate | confidence | score | rules # | rules score | size MB | Δ size | layers | build s | fixes |"
            );
            let _ = writeln!(out, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|");
            let table = rows(rewrite);
            for c in &p.candidates {
                let row = table.iter().find(|r| r.rule_id == c.rule_id);
                let _ = writeln!(
                    out,
                    "| {} | [`{}`]({}) ([diff]({})) | {} | {} | {} | {:+.3} | {} | {} |",
                    c.rank,
                    c.id,
                    c.dockerfile,
                    c.diff,
                    percent(c.confidence),
                    number(c.score, 3),
                    c.rules_rank,
                    c.rules_score,
                    row.map_or_else(|| "— | — | — | —".to_owned(), |r| figures(r).join(" | ")),
                    row.map_or_else(|| "—".to_owned(), |r| fixes(r, |f| format!("`{f}`")))
                );
            }
            out.push('\n');
            let _ =
                writeln!(out, "Every candidate, its parameters and diff: [{0}/report.md]({0}/report.md).\n", p.name);
        }
        problems_md(&mut out, p);
    }
    out
}

/// Where the recommendation's patch is and how to apply it (`--patch`).
fn patch_note(p: &ProjectRecord) -> Option<String> {
    let patch = p.patch.as_ref()?;
    let file = format!("{}/{PATCH_FILE}", p.name);
    Some(if patch.applied {
        format!("Applied to {} ({}); the patch is {file}.", patch.path, patch.root.display())
    } else {
        format!(
            "Patch: {file} (message: {}/{COMMIT_MESSAGE_FILE}); in {}, `git apply` or `git am` it.",
            p.name,
            patch.root.display()
        )
    })
}

fn explanation_md(out: &mut String, e: &Explanation) {
    let what = e.rule_id.as_deref().map_or_else(|| "the findings".to_owned(), |r| format!("`{r}`"));
    let _ = writeln!(out, "Why {what} ({}{}):\n", e.mode.as_str(), filtered_note(e));
    for line in excerpt(&e.summary).lines() {
        let _ = writeln!(out, "> {line}");
    }
    out.push('\n');
    for reason in &e.reasons {
        let _ = writeln!(out, "- `{}`: {}", reason.code, excerpt(&reason.why));
    }
    if !e.reasons.is_empty() {
        out.push('\n');
    }
}

fn problems_md(out: &mut String, p: &ProjectRecord) {
    if p.problems.is_empty() {
        return;
    }
    let _ = writeln!(out, "Problems:\n");
    for problem in &p.problems {
        let _ = writeln!(out, "- {}: {}", problem.step.as_str(), problem.message);
    }
    out.push('\n');
}

/// The run as one HTML page.
pub(crate) fn html(run: &RunRecord, rewrites: &[Option<Rewrite>]) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<title>codi run {}</title>\n<style>\n{}</style>\n</head>\n<body>\n"
        ),
        esc(&run.id),
        CSS
    );
    let _ = writeln!(
        out,
        "<header>\n<h1>codi run <code>{}</code></h1>\n<p>{}</p>\n</header>",
        esc(&run.id),
        esc(&header(run))
    );
    out.push_str("<main>\n<table>\n<thead><tr>");
    for head in ["project", "stack", "candidates", "recommended", "confidence", "mode", "status"] {
        let _ = write!(out, "<th>{head}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for p in &run.projects {
        let [stack, count, recommended, confidence, mode, status] = summary(p);
        let class = if p.problems.is_empty() { "" } else { " class=\"warn\"" };
        let _ = writeln!(
            out,
            "<tr><th><a href=\"#{}\">{}</a></th><td>{}</td><td class=\"num\">{count}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td{class}>{}</td></tr>",
            anchor(&p.name),
            esc(&p.name),
            esc(&stack),
            if recommended.is_empty() { "—".to_owned() } else { code(&recommended) },
            esc(&confidence),
            esc(&mode),
            esc(&status)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    for (p, rewrite) in run.projects.iter().zip(rewrites) {
        project_html(&mut out, p, rewrite.as_ref());
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn project_html(out: &mut String, p: &ProjectRecord, rewrite: Option<&Rewrite>) {
    let _ = writeln!(out, "<section id=\"{}\">\n<h2>{}</h2>", anchor(&p.name), esc(&p.name));
    let _ = writeln!(out, "<p class=\"muted\">{}{}</p>", code(&p.path.display().to_string()), esc(&digest_note(p)));
    let _ = writeln!(out, "<div class=\"llm\">\n<h3>LLM</h3>\n<p>{}</p>", esc(&verdict(p)));
    if let Some(note) = patch_note(p) {
        let _ = writeln!(out, "<p>{}</p>", esc(&note));
    }
    if let Some(why) = unexplained(p) {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", esc(why));
    }
    if let Some(e) = &p.explanation {
        let what = e.rule_id.as_deref().map_or_else(|| "the findings".to_owned(), code);
        let _ = writeln!(out, "<h4>Why {what} <small>({}{})</small></h4>", e.mode.as_str(), esc(&filtered_note(e)));
        let _ = writeln!(out, "<blockquote>{}</blockquote>", esc(&excerpt(&e.summary)));
        if !e.reasons.is_empty() {
            out.push_str("<ul>\n");
            for reason in &e.reasons {
                let _ = writeln!(out, "<li>{}: {}</li>", code(&reason.code), esc(&excerpt(&reason.why)));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</div>\n");
    if let Some(rewrite) = rewrite.filter(|r| !r.candidates.is_empty()) {
        out.push_str("<table>\n<thead><tr>");
        for head in [
            "#",
            "candidate",
            "confidence",
            "score",
            "rules #",
            "rules score",
            "size MB",
            "Δ size",
            "layers",
            "build s",
            "fixes",
        ] {
            let _ = write!(out, "<th>{head}</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        let table = rows(rewrite);
        for c in &p.candidates {
            let row = table.iter().find(|r| r.rule_id == c.rule_id);
            let cells = row.map_or_else(|| ["—", "—", "—", "—"].map(str::to_owned), figures);
            let _ = write!(
                out,
                "<tr><td class=\"num\">{}</td><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{:+.3}</td>",
                c.rank,
                code(&c.id),
                percent(c.confidence),
                number(c.score, 3),
                c.rules_rank,
                c.rules_score
            );
            for cell in cells {
                let _ = write!(out, "<td class=\"num\">{}</td>", esc(&cell));
            }
            let _ = writeln!(out, "<td>{}</td></tr>", row.map_or_else(|| "—".to_owned(), |r| fixes(r, code)));
        }
        out.push_str("</tbody>\n</table>\n");
        for c in &p.candidates {
            if let Some(candidate) = rewrite.candidates.iter().find(|x| x.rule_id == c.rule_id) {
                let _ = writeln!(
                    out,
                    "<details><summary>{} {} <small>{}</small></summary><pre>{}</pre></details>",
                    c.rank,
                    code(&c.id),
                    esc(&c.dockerfile),
                    esc(&candidate.diff)
                );
            }
        }
    }
    if !p.problems.is_empty() {
        out.push_str("<h3 class=\"warn\">Problems</h3>\n<ul>\n");
        for problem in &p.problems {
            let _ = writeln!(out, "<li>{}: {}</li>", problem.step.as_str(), esc(&problem.message));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

const CSS: &str = r#":root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --alt: #f6f8fa; }
body { margin: 0 auto; max-width: 1240px; padding: 24px; color: var(--fg); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 20px; margin: 32px 0 4px; padding-top: 12px; border-top: 2px solid var(--fg); }
h3 { font-size: 16px; margin: 12px 0 6px; }
h4 { font-size: 14px; margin: 10px 0 4px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 8px; padding: 8px;
  background: var(--alt); border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--alt); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
blockquote { margin: 4px 0 8px; padding: 4px 12px; border-left: 3px solid var(--line); }
.llm { padding: 4px 12px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fbfcfd; }
.muted, small { color: var(--muted); }
.warn { color: #9a3412; }
details { margin: 4px 0; }
"#;

/// The run's line: when, what ranked, which rules.
fn header(run: &RunRecord) -> String {
    let r = &run.ranker;
    let mut text = format!("Started {}, finished {}. Ranker: {}", run.started_at, run.finished_at, r.kind.as_str());
    if let Some(endpoint) = &r.endpoint {
        let _ = write!(text, " at {endpoint}");
    }
    if let Some(mode) = r.mode {
        let _ = write!(text, ", mode {}", mode.as_str());
    }
    if let Some(model) = &r.model_id {
        let _ = write!(text, ", model {model}");
    }
    let _ = write!(text, ", adapter {}", r.adapter_version.as_deref().map_or("none", short));
    let _ = write!(text, ". Rules {} (version {}).", run.catalog.display(), short(&run.rules_version));
    text
}

/// The summary table's cells for a project (text, not yet escaped).
fn summary(p: &ProjectRecord) -> [String; 6] {
    let selected = p.selected_candidate();
    let mode = match (&p.ranking, &p.explanation) {
        (Some(r), _) => r.mode.as_str(),
        (None, Some(e)) => e.mode.as_str(),
        (None, None) => "—",
    };
    let status =
        if p.problems.is_empty() { p.status.as_str().to_owned() } else { format!("{} (problems)", p.status.as_str()) };
    [
        p.stack.clone().unwrap_or_else(|| "—".to_owned()),
        p.candidates.len().to_string(),
        p.selected.clone().unwrap_or_default(),
        selected.map_or_else(|| "—".to_owned(), |c| percent(c.confidence)),
        mode.to_owned(),
        status,
    ]
}

/// What the run concluded for a project, in a sentence.
fn verdict(p: &ProjectRecord) -> String {
    let selected = p.selected.as_deref().unwrap_or_default();
    match p.status {
        Status::Ranked => {
            let confidence = p.selected_candidate().map_or_else(|| "—".to_owned(), |c| percent(c.confidence));
            let (mode, latency) = p.ranking.as_ref().map_or(("—", 0.0), |r| (r.mode.as_str(), r.latency_ms));
            format!(
                "Recommended: {selected}, confidence {confidence} ({mode} ranking of {} candidates, {latency:.0} ms).",
                p.candidates.len()
            )
        }
        Status::OneCandidate => format!("Recommended: {selected}, the only candidate: nothing to rank."),
        Status::NoRule => "No rule of the catalog applies to this project: no candidate.".to_owned(),
        Status::RankFailed => format!(
            "The ranking failed; the {} candidates are in the rules' order and none is recommended.",
            p.candidates.len()
        ),
        Status::LoadFailed => "The project could not be read.".to_owned(),
    }
}

/// Why a project has no explanation, when that is not a failure.
fn unexplained(p: &ProjectRecord) -> Option<&'static str> {
    if p.explanation.is_some() || p.problems.iter().any(|x| x.step == Step::Explain) {
        return None;
    }
    match p.status {
        Status::Ranked | Status::OneCandidate => {
            Some("The recommended candidate fixes none of the original's findings: nothing to explain.")
        }
        Status::NoRule => Some("No finding at warning level: nothing to explain."),
        Status::RankFailed | Status::LoadFailed => None,
    }
}

fn digest_note(p: &ProjectRecord) -> String {
    match (&p.dockerfile, &p.dockerfile_sha256) {
        (Some(file), Some(sha)) => format!(" — {} sha256 {}", file.display(), short(sha)),
        _ => String::new(),
    }
}

fn filtered_note(e: &Explanation) -> String {
    if e.filtered { ", text filtered".to_owned() } else { String::new() }
}

/// The rules' figures of a candidate, as `codi rewrite`'s table shows them: size, its change,
/// layers, build time.
fn figures(r: &CandidateRow<'_>) -> [String; 4] {
    [
        format!("{:.0}", r.image_mb),
        format!("{:+.0}%", r.size_change_percent),
        r.layers.to_string(),
        format!("{:.0}", r.build_seconds),
    ]
}

/// The codes a candidate fixes, each written by `code`.
fn fixes(r: &CandidateRow<'_>, code: impl Fn(&str) -> String) -> String {
    let list: Vec<String> = r.fixes.iter().map(|f| code(f)).collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

fn percent(value: Option<f64>) -> String {
    value.filter(|v| v.is_finite()).map_or_else(|| "—".to_owned(), |v| format!("{:.0}%", 100.0 * v))
}

fn number(value: Option<f64>, digits: usize) -> String {
    // `+ 0.0` writes a negative zero as 0.
    value.filter(|v| v.is_finite()).map_or_else(|| "—".to_owned(), |v| format!("{:.digits$}", v + 0.0))
}

/// A hash cut to 12 characters.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// `text` cut to [`EXCERPT_CHARS`], with an ellipsis.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", esc(text))
}

/// A section id for a project name: bytes outside a safe set written as `-xx`.
fn anchor(name: &str) -> String {
    let mut out = String::from("p-");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "-{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_anchors() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(anchor("node-app_2"), "p-node-app_2");
        assert_eq!(anchor("a b\"<"), "p-a-20b-22-3c");
        assert_eq!(excerpt(&"é".repeat(700)).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(percent(Some(0.62)), "62%");
        assert_eq!(percent(None), "—");
        assert_eq!(number(Some(-0.0), 3), "0.000");
    }
}
