//! The chart, as hand-written SVG: a bar of log(ratio) per figure around a line at 1
//! (right of it, multiproc is better), and W8's speedup against the worker count for
//! both sides.

use std::fmt::Write as _;

use crate::report::{Row, ratio};

const WIDTH: f64 = 980.0;
const LABEL_RIGHT: f64 = 400.0;
const PLOT_LEFT: f64 = 410.0;
const PLOT_RIGHT: f64 = 900.0;
const ROW: f64 = 20.0;
const MP_COLOR: &str = "#1f77b4";
const PY_COLOR: &str = "#ff7f0e";

/// W8's `pool map` speedups by worker count, 1 to 4, for one side.
fn w8_curve(rows: &[Row], python: bool) -> Vec<Option<f64>> {
    let variants = ["pool map, 1 worker", "pool map", "pool map, 3 workers", "pool map, 4 workers"];
    variants
        .iter()
        .map(|variant| {
            let row = rows.iter().find(|r| r.id == "W8" && r.variant == *variant)?;
            let side = if python { &row.python } else { &row.multiproc };
            side.stats().map(|s| s.median)
        })
        .collect()
}

/// The whole chart.
pub(crate) fn svg(rows: &[Row], title: &str, cores: usize) -> String {
    let bars: Vec<(&Row, f64)> = rows.iter().filter_map(|r| Some((r, r.ratio()?.0))).collect();
    let bars_top = 70.0;
    let bars_height = (bars.len().max(1) as f64) * ROW;
    let speedup_top = bars_top + bars_height + 70.0;
    let height = speedup_top + 260.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="20" y="24" font-size="16" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="44" fill="#555">multiproc ÷ CPython, log scale, oriented so that right of 1 (green) means multiproc is better</text>"##
    );
    bars_section(&mut s, &bars, bars_top);
    speedup_section(&mut s, rows, speedup_top, cores);
    s.push_str("</svg>\n");
    s
}

fn bars_section(s: &mut String, bars: &[(&Row, f64)], top: f64) {
    if bars.is_empty() {
        let _ =
            writeln!(s, r#"<text x="20" y="{}">no ratios: CPython did not run</text>"#, top + 14.0);
        return;
    }
    let (lo, hi) = bars.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, r)| {
        (lo.min(r.log10()), hi.max(r.log10()))
    });
    let lo = lo.floor().clamp(-4.0, -1.0);
    let hi = hi.ceil().clamp(1.0, 4.0);
    let x =
        |r: f64| PLOT_LEFT + (r.log10().clamp(lo, hi) - lo) / (hi - lo) * (PLOT_RIGHT - PLOT_LEFT);
    let bottom = top + bars.len() as f64 * ROW;
    for decade in (lo as i32)..=(hi as i32) {
        let r = 10_f64.powi(decade);
        let (stroke, width) = if decade == 0 { ("#333", 1.5) } else { ("#ddd", 1.0) };
        let _ = writeln!(
            s,
            r#"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="{stroke}" stroke-width="{width}"/>"#,
            x(r),
            top - 6.0,
            bottom
        );
        let label = if decade < 0 { format!("{r}×") } else { format!("{r:.0}×") };
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
            x(r),
            top - 10.0
        );
    }
    for (i, (row, r)) in bars.iter().enumerate() {
        let y = top + i as f64 * ROW;
        let (x1, xr) = (x(1.0), x(*r));
        let color = if *r >= 1.0 { "#2a9d4b" } else { "#d0473d" };
        let _ = writeln!(
            s,
            r#"<text x="{LABEL_RIGHT}" y="{:.1}" text-anchor="end">{} {}</text>"#,
            y + 13.0,
            row.id,
            esc(row.variant)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="14" fill="{color}"/>"#,
            x1.min(xr),
            y + 2.0,
            (xr - x1).abs().max(1.0)
        );
        let (tx, anchor) = if *r >= 1.0 { (xr + 4.0, "start") } else { (xr - 4.0, "end") };
        let _ = writeln!(
            s,
            r#"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            y + 13.0,
            ratio(*r)
        );
    }
}

fn speedup_section(s: &mut String, rows: &[Row], top: f64, cores: usize) {
    let mp = w8_curve(rows, false);
    let py = w8_curve(rows, true);
    let _ = writeln!(
        s,
        r#"<text x="20" y="{}" font-size="14" font-weight="bold">W8: speedup of 12 CPU-bound tasks over serial, by worker count ({cores} cores)</text>"#,
        top - 30.0
    );
    if mp.iter().all(Option::is_none) {
        let _ = writeln!(s, r#"<text x="20" y="{top}">W8 did not run</text>"#);
        return;
    }
    let (left, right, bottom) = (120.0, 480.0, top + 200.0);
    let peak = mp.iter().chain(&py).flatten().fold(cores as f64, |m, v| m.max(*v));
    let y_max = (peak * 2.0).ceil() / 2.0 + 0.5;
    let x = |workers: usize| left + (workers as f64 - 1.0) / 3.0 * (right - left);
    let y = |v: f64| bottom - v / y_max * (bottom - top);
    let mut tick = 0.0;
    while tick <= y_max + 1e-9 {
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{0:.1}" x2="{right}" y2="{0:.1}" stroke="#eee"/><text x="{1}" y="{2:.1}" text-anchor="end" fill="#555">{tick:.1}×</text>"##,
            y(tick),
            left - 6.0,
            y(tick) + 4.0
        );
        tick += 0.5;
    }
    for workers in 1..=4 {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{workers}</text>"##,
            x(workers),
            bottom + 16.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">workers</text>"##,
        (left + right) / 2.0,
        bottom + 32.0
    );
    let ideal: Vec<Option<f64>> = (1..=4).map(|w: usize| Some(w.min(cores) as f64)).collect();
    polyline(s, &ideal, &x, &y, "#999", Some("5,4"));
    polyline(s, &py, &x, &y, PY_COLOR, None);
    polyline(s, &mp, &x, &y, MP_COLOR, None);
    let legend = [
        (MP_COLOR, "multiproc", false),
        (PY_COLOR, "CPython", false),
        ("#999", "ideal: min(workers, cores)", true),
    ];
    for (i, (color, label, dashed)) in legend.iter().enumerate() {
        let ly = top + 10.0 + i as f64 * 18.0;
        let dash = if *dashed { r#" stroke-dasharray="5,4""# } else { "" };
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{ly}" x2="{1}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{2}" y="{3}">{label}</text>"#,
            right + 30.0,
            right + 60.0,
            right + 66.0,
            ly + 4.0
        );
    }
}

fn polyline(
    s: &mut String,
    values: &[Option<f64>],
    x: &dyn Fn(usize) -> f64,
    y: &dyn Fn(f64) -> f64,
    color: &str,
    dash: Option<&str>,
) {
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i + 1), y(v))))
        .collect();
    if points.is_empty() {
        return;
    }
    let dash = dash.map(|d| format!(r#" stroke-dasharray="{d}""#)).unwrap_or_default();
    let _ = writeln!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
        points.join(" ")
    );
    if dash.is_empty() {
        for point in &points {
            let (px, py) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"#);
        }
    }
}

/// Escapes text for SVG.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
