//! Results: one [`Row`] per figure, their statistics, the table on stdout and the JSON
//! objects (one line each) that `cargo xtask bench --json` gathers.

use std::fmt::Write as _;

use crate::cases::Unit;

/// What one side measured for one figure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Side {
    /// One number per repetition.
    Numbers(Vec<f64>),
    /// A qualitative outcome.
    Text(String),
    /// The side failed; why.
    Failed(String),
    /// The side was not run (no CPython); why.
    Missing(String),
}

/// Median, min and max of the repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stats {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Stats {
    pub(crate) fn of(values: &[f64]) -> Option<Stats> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(Stats { median, min: sorted[0], max: sorted[n - 1] })
    }
}

impl Side {
    pub(crate) fn stats(&self) -> Option<Stats> {
        match self {
            Side::Numbers(values) => Stats::of(values),
            _ => None,
        }
    }

    /// The cell of the table: `median [min – max]`, the text, or why there is none.
    fn cell(&self) -> String {
        match self {
            Side::Numbers(_) => match self.stats() {
                Some(s) => format!("{} [{} – {}]", num(s.median), num(s.min), num(s.max)),
                None => "no value".to_owned(),
            },
            Side::Text(text) => text.clone(),
            Side::Failed(why) => format!("FAILED: {why}"),
            Side::Missing(why) => format!("({why})"),
        }
    }

    fn json(&self) -> String {
        match self {
            Side::Numbers(values) => match self.stats() {
                Some(s) => format!(
                    "{{\"median\": {}, \"min\": {}, \"max\": {}, \"runs\": [{}]}}",
                    json_num(s.median),
                    json_num(s.min),
                    json_num(s.max),
                    values.iter().map(|v| json_num(*v)).collect::<Vec<_>>().join(", ")
                ),
                None => "null".to_owned(),
            },
            Side::Text(text) => format!("{{\"outcome\": {}}}", json_str(text)),
            Side::Failed(why) => format!("{{\"error\": {}}}", json_str(why)),
            Side::Missing(_) => "null".to_owned(),
        }
    }
}

/// One figure of one case: a row of the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) id: &'static str,
    pub(crate) variant: &'static str,
    pub(crate) unit: Unit,
    pub(crate) multiproc: Side,
    pub(crate) python: Side,
}

impl Row {
    /// multiproc over CPython, oriented so that > 1 means multiproc is better; the
    /// second value says a floor was applied (the ratio is then "at least").
    pub(crate) fn ratio(&self) -> Option<(f64, bool)> {
        let (mp, py) = (self.multiproc.stats()?.median, self.python.stats()?.median);
        let floor = self.unit.floor();
        if self.unit.higher_is_better() {
            Some((mp / py.max(floor), py < floor))
        } else {
            Some((py.max(floor) / mp.max(floor), mp < floor))
        }
    }

    fn ratio_cell(&self) -> String {
        match self.ratio() {
            Some((r, floored)) => format!("{}{}", if floored { "≥ " } else { "" }, ratio(r)),
            None => "–".to_owned(),
        }
    }

    /// The row as one JSON object (one line).
    pub(crate) fn json(&self, quick: bool) -> String {
        let ratio = self.ratio().map_or("null".to_owned(), |(r, _)| json_num(r));
        format!(
            "{{\"id\": {}, \"variant\": {}, \"unit\": {}, \"better\": {}, \"quick\": {quick}, \
             \"multiproc\": {}, \"python\": {}, \"ratio\": {ratio}}}",
            json_str(self.id),
            json_str(self.variant),
            json_str(self.unit.label()),
            json_str(if self.unit.higher_is_better() { "higher" } else { "lower" }),
            self.multiproc.json(),
            self.python.json(),
        )
    }
}

/// The table: numeric figures in columns, then the qualitative outcomes (W11, W12) as
/// text blocks.
pub(crate) fn table(rows: &[Row], python_label: &str) -> String {
    let numeric: Vec<&Row> = rows.iter().filter(|r| r.unit != Unit::Qualitative).collect();
    let head = ["id", "variant", "unit", "multiproc median [min – max]", python_label, "ratio"];
    let mut cells: Vec<[String; 6]> = vec![head.map(str::to_owned)];
    for row in &numeric {
        cells.push([
            row.id.to_owned(),
            row.variant.to_owned(),
            row.unit.label().to_owned(),
            row.multiproc.cell(),
            row.python.cell(),
            row.ratio_cell(),
        ]);
    }
    let width = |col: usize| cells.iter().map(|c| c[col].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    let mut out = String::new();
    for (i, line) in cells.iter().enumerate() {
        let mut text = String::new();
        for (col, cell) in line.iter().enumerate() {
            let pad = widths[col] - cell.chars().count();
            if col == 5 {
                let _ = write!(text, "{}{cell}", " ".repeat(pad));
            } else {
                let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 10));
            out.push('\n');
        }
    }
    let qualitative: Vec<&Row> = rows.iter().filter(|r| r.unit == Unit::Qualitative).collect();
    if !qualitative.is_empty() {
        out.push('\n');
        for row in qualitative {
            let _ = writeln!(out, "{:<4} {}", row.id, row.variant);
            let _ = writeln!(out, "     multiproc: {}", row.multiproc.cell());
            let _ = writeln!(out, "     CPython:   {}", row.python.cell());
        }
    }
    out
}

/// A number in 3-4 significant digits, with k / M / G for large ones.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        format!("{v}")
    } else if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A ratio: two decimals, fewer when large.
pub(crate) fn ratio(r: f64) -> String {
    if r >= 100.0 { format!("{r:.0}") } else { format!("{r:.2}") }
}

fn json_num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "null".to_owned() }
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
