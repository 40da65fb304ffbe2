//! report: one run as one self-contained HTML file (images embedded, no scripts or styles
//! from anywhere else), readable in any browser without a server.

use std::fmt::Write as _;
use std::fs;

use base64::Engine as _;

use crate::action::{Action, Pointer};
use crate::record::{Run, RunStatus, StepRecord};

/// The page's content security policy: images only from the page itself, and only the
/// report's own script, named by its hash: a script that text from a screen smuggled in
/// through a missed escape would not run. (Styles stay inline: the target boxes are placed
/// with them, and a style cannot run code.)
fn content_policy() -> String {
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT.as_bytes()));
    format!("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{hash}'")
}

/// Render a run (see [`crate::record::read_run`]). Fails only when an image cannot be read.
pub fn render(run: &Run) -> Result<String, String> {
    let info = &run.info;
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("markpilot run: {}", info.task);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        content_policy(),
        esc(&title)
    );
    let status = info.result.status;
    let _ = write!(
        h,
        "<header>\n<h1>{}</h1>\n<p class=\"result {}\"><strong>{}</strong> — {}</p>\n",
        esc(&info.task),
        status.as_str(),
        status.as_str(),
        esc(&info.result.message)
    );
    if let Some(a) = &info.result.answer {
        let _ = writeln!(h, "<p class=\"answer\">Answer: {}</p>", esc(a));
    }
    let _ = writeln!(h, "<table class=\"facts\">");
    let mut fact = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    };
    fact("Source", info.source.clone());
    if info.source == "replay"
        && let Some(o) = info.options.get("original")
    {
        fact("Replays", format!("{} ({})", o["id"].as_str().unwrap_or("?"), o["dir"].as_str().unwrap_or("?")));
    }
    if !info.model.is_empty() {
        fact("Model", format!("{} via {} ({})", info.model, info.provider, info.base_url));
    }
    fact("Started", info.started_at.clone());
    fact("Ended", info.ended_at.clone().unwrap_or_else(|| "— (still running, or the process died)".into()));
    fact("Steps", run.steps.len().to_string());
    fact("Tokens", format!("{} input, {} output", info.usage.input_tokens, info.usage.output_tokens));
    fact("Run folder", run.dir.display().to_string());
    let _ = writeln!(h, "</table>");
    if run.truncated || status == RunStatus::Running {
        let _ = writeln!(
            h,
            "<p class=\"warning\">The recording ends abruptly: its process stopped while writing {}.</p>",
            if run.truncated { "a step (the last, incomplete line was left out)" } else { "it" }
        );
    }
    let _ = writeln!(h, "<nav><ol>");
    for s in &run.steps {
        let _ = writeln!(
            h,
            "<li><a href=\"#step-{}\">{}</a> <span class=\"status {}\">{}</span></li>",
            s.step,
            esc(&step_title(s)),
            esc(&s.outcome.status),
            esc(&s.outcome.status)
        );
    }
    let _ = writeln!(h, "</ol></nav>\n</header>\n<main>");
    for s in &run.steps {
        step_html(&mut h, run, s)?;
    }
    let _ = write!(
        h,
        "</main>\n<footer>markpilot {} · report format {}</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        esc(&info.markpilot_version),
        info.format
    );
    Ok(h)
}

fn step_title(s: &StepRecord) -> String {
    match &s.decision {
        Some(d) => format!("Step {}: {}", s.step, d.action),
        None => format!("Step {}: no decision", s.step),
    }
}

fn step_html(h: &mut String, run: &Run, s: &StepRecord) -> Result<(), String> {
    let _ = writeln!(h, "<section class=\"step\" id=\"step-{}\">\n<h2>{}</h2>", s.step, esc(&step_title(s)));
    if let Some(d) = &s.decision {
        let _ = writeln!(h, "<p class=\"thought\">{}</p>", esc(&d.thought));
    }
    // The marked screenshot, with the action's targets outlined over it.
    let path = run.dir.join(&s.marked);
    let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let _ = write!(
        h,
        "<figure><div class=\"shot\"><img src=\"data:image/png;base64,{b64}\" alt=\"step {} marked screenshot\" width=\"{}\" height=\"{}\">",
        s.step, s.width, s.height
    );
    for (i, r) in target_boxes(s).iter().enumerate() {
        let pct = |v: f64, of: u32| 100.0 * v / of.max(1) as f64;
        let _ = write!(
            h,
            "<div class=\"target\" title=\"target {}\" style=\"left:{:.3}%;top:{:.3}%;width:{:.3}%;height:{:.3}%\"></div>",
            i + 1,
            pct(r.0, s.width),
            pct(r.1, s.height),
            pct(r.2, s.width),
            pct(r.3, s.height)
        );
    }
    let _ =
        writeln!(h, "</div><figcaption>{} marks · {}×{}</figcaption></figure>", s.elements.len(), s.width, s.height);

    let o = &s.outcome;
    let _ =
        write!(h, "<p class=\"outcome\">Outcome: <span class=\"status {}\">{}</span>", esc(&o.status), esc(&o.status));
    match o.screen_changed {
        Some(true) => h.push_str(" · the screen changed"),
        Some(false) => h.push_str(" · no visible change"),
        None => {}
    }
    h.push_str("</p>\n");
    if let Some(d) = &o.detail {
        let class = if matches!(o.status.as_str(), "error" | "invalid" | "not_found") { "error" } else { "detail" };
        let _ = writeln!(h, "<p class=\"{class}\">{}</p>", esc(d));
    }
    if let Some(c) = &s.confirmation {
        let _ = writeln!(
            h,
            "<p class=\"detail\">Confirmation asked ({}): {}</p>",
            esc(&c.reason),
            if c.approved { "approved" } else { "refused" }
        );
    }
    for why in &s.invalid {
        let _ = writeln!(h, "<p class=\"error\">Answer rejected: {}</p>", esc(why));
    }
    if let Some(r) = &s.replay {
        let _ = writeln!(
            h,
            "<div class=\"replay\"><p>Replays recorded step {} · targets: {}</p><ul>",
            r.original_step,
            esc(&r.via)
        );
        for line in crate::replay::summarise(&r.targets) {
            let _ = writeln!(h, "<li>{}</li>", esc(&line));
        }
        let _ = writeln!(h, "</ul></div>");
    }
    if !o.input.is_empty() {
        let _ = writeln!(h, "<p class=\"detail\">Input: {}</p>", esc(&o.input.join(" · ")));
    }

    let t = &s.timings_ms;
    let _ = writeln!(h, "<table class=\"timings\"><tr><th>stage</th><th>ms</th></tr>");
    for (k, v) in [
        ("capture", t.capture),
        ("detect", t.detect),
        ("fusion", t.fusion),
        ("mark", t.mark),
        ("re-find", t.refind),
        ("encode", t.encode),
        ("request", t.request),
        ("model", t.model),
        ("parse", t.parse),
        ("act latency", t.act_latency),
        ("act", t.act),
        ("settle", t.settle),
        ("overhead", t.overhead),
    ] {
        if v > 0.0 || k == "overhead" {
            let _ = writeln!(h, "<tr><td>{k}</td><td>{v:.1}</td></tr>");
        }
    }
    let _ = writeln!(
        h,
        "<tr><td>tokens</td><td>{} in / {} out</td></tr></table>",
        s.usage.input_tokens, s.usage.output_tokens
    );
    if !s.answers.is_empty() {
        let _ = writeln!(h, "<details><summary>Model answers ({})</summary>", s.answers.len());
        for a in &s.answers {
            let _ = writeln!(h, "<pre>{}</pre>", esc(a));
        }
        let _ = writeln!(h, "</details>");
    }
    let _ = writeln!(h, "</section>");
    Ok(())
}

/// The action's targets as (x, y, w, h) in frame pixels: a mark's box, or a small square
/// around a point.
fn target_boxes(s: &StepRecord) -> Vec<(f64, f64, f64, f64)> {
    let Some(d) = &s.decision else { return Vec::new() };
    if matches!(d.action, Action::Done { .. } | Action::Fail { .. } | Action::AskUser { .. }) {
        return Vec::new();
    }
    d.action
        .pointers()
        .iter()
        .filter_map(|p| match *p {
            Pointer::Mark(id) => s.elements.iter().find(|e| e.id == id).map(|e| {
                let b = e.bbox;
                (b.x as f64, b.y as f64, b.w as f64, b.h as f64)
            }),
            Pointer::Point(x, y) => Some((x - 8.0, y - 8.0, 16.0, 16.0)),
        })
        .collect()
}

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #fafafa; --muted: #666; --card: #fff; --line: #ddd; --accent: #e5484d; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf1; --bg: #18181b; --muted: #a1a1aa; --card: #232326; --line: #3f3f46; } }
body { font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.15rem; margin: 0 0 .5rem; }
.result.done strong { color: #1a7f37; } .result.fail strong, .result.error strong, .result.limit strong { color: var(--accent); }
table { border-collapse: collapse; margin: .5rem 0; } th, td { text-align: left; padding: .15rem .75rem .15rem 0; border-bottom: 1px solid var(--line); }
.facts th { color: var(--muted); font-weight: normal; }
.step { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin: 1rem 0; }
.thought { font-style: italic; }
.shot { position: relative; display: inline-block; max-width: 100%; }
.shot img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
.target { position: absolute; border: 3px solid var(--accent); box-shadow: 0 0 0 2px #fff8; border-radius: 3px; }
figure { margin: .5rem 0; } figcaption { color: var(--muted); font-size: .85rem; }
.status { font-family: ui-monospace, monospace; font-size: .9em; padding: 0 .3em; border-radius: 3px; background: var(--line); }
.error { color: var(--accent); } .warning { color: #b35900; font-weight: bold; } .detail { color: var(--muted); }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: .5rem; border-radius: 4px; }
.timings td:last-child { text-align: right; font-variant-numeric: tabular-nums; }
footer { color: var(--muted); font-size: .8rem; margin: 2rem 0 1rem; }
";

/// Marks the document once every image has decoded (`data-images-loaded` on <html>), so a
/// headless browser can tell a report that renders from one that does not.
const SCRIPT: &str = "
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.documentElement.setAttribute('data-images', String(imgs.length));
  document.documentElement.setAttribute('data-images-loaded', String(ok));
});
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_reports_own_script_may_run() {
        let csp = content_policy();
        assert!(csp.contains("script-src 'sha256-") && !csp.contains("script-src 'unsafe-inline'"), "{csp}");
        // The hash a browser computes over the script element's text (checked for real by
        // the display test that renders a report in Chromium and waits for the script).
        use sha2::Digest as _;
        let expected = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT));
        assert!(csp.contains(&expected));
    }

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(esc("<b a=\"1\">Tom & 'Jerry'</b>"), "&lt;b a=&quot;1&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt;");
    }
}
