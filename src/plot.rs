//! Loss curves as SVG: text that any browser shows, with no drawing library and no fonts to ship.
//!
//! [`write()`] lays out shared axes with about five "nice" ticks each (1, 2 or
//! 5 times a power of ten), a title, axis labels and a legend, and writes an
//! SVG document. Raster images are left to the tools made for them (a browser,
//! `rsvg-convert`, Inkscape): drawing text into pixels means shipping a font
//! rasteriser, which is no business of this crate. Points whose x or y is NaN
//! or infinite are skipped: the curve breaks there.

use std::fmt::Write as _;
use std::path::Path;

use candle_core::Result;

/// One named curve: (x, y) points, e.g. (epoch, loss).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series<'a> {
    /// The name shown in the legend.
    pub name: &'a str,
    /// The points, joined in order.
    pub points: &'a [(f64, f64)],
}

/// The colours of the curves as RGB, in series order; the eleventh series takes the first again.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [23, 190, 207],
    [127, 127, 127],
    [188, 189, 34],
];

/// Width and height of an SVG plot, in pixels.
pub const SVG_SIZE: (usize, usize) = (640, 400);

/// Checks, before any long work, that `path` names a plot this module can write: an `.svg` file in an existing folder.
pub fn check_path(path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if ext != "svg" {
        fail!(
            "cannot plot to '{}': plots are written as SVG, so the file name must end in .svg (a browser or rsvg-convert turns it into a PNG)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            fail!(
                "cannot write '{}': folder '{}' does not exist; create it or pick another folder",
                path.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Draws the curves on shared axes with a title, axis labels and a legend, and writes them to `path` as SVG.
pub fn write(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    check_path(path)?;
    let chart = Chart::new(title, x_label, y_label, series);
    crate::io::atomic::write(path, svg(&chart).as_bytes())
}

/// What to draw, with the axes already fitted to the data.
struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: &'a [Series<'a>],
    x: Axis,
    y: Axis,
}

impl<'a> Chart<'a> {
    fn new(title: &'a str, x_label: &'a str, y_label: &'a str, series: &'a [Series<'a>]) -> Self {
        let finite = || {
            series
                .iter()
                .flat_map(|s| s.points)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        Chart {
            title,
            x_label,
            y_label,
            series,
            x: Axis::fit(finite().map(|p| p.0)),
            y: Axis::fit(finite().map(|p| p.1)),
        }
    }
}

/// One axis: its range, widened to whole ticks, and the labelled ticks.
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// The axis for these values: about five ticks at 1, 2 or 5 times a power of ten.
    fn fit(values: impl Iterator<Item = f64>) -> Self {
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if lo > hi {
            // No finite points at all.
            (lo, hi) = (0.0, 1.0);
        }
        if lo == hi {
            // One value: a range around it, so that nothing divides by zero.
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            (lo, hi) = (lo - pad, hi + pad);
        }
        let step = nice_step((hi - lo).min(f64::MAX) / 5.0);
        let first = (lo / step).floor();
        let last = (hi / step).ceil();
        let count = ((last - first) as usize).min(20);
        let magnitude = lo.abs().max(hi.abs());
        let ticks = (0..=count)
            .map(|i| {
                let v = (first + i as f64) * step;
                (v, tick_label(v, step, magnitude))
            })
            .collect();
        Axis {
            lo: first * step,
            hi: (first + count as f64) * step,
            ticks,
        }
    }

    /// Where `v` lies between the ends of the axis, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        let f = (v - self.lo) / (self.hi - self.lo);
        if f.is_finite() {
            f
        } else {
            0.0
        }
    }
}

/// The smallest of 1, 2, 5 or 10 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let base = 10f64.powf(raw.log10().floor());
    let m = raw / base;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// `v` with as many digits as the tick step needs; in e-notation for very large or small numbers.
fn tick_label(v: f64, step: f64, magnitude: f64) -> String {
    if v.abs() < step * 1e-6 {
        return "0".into();
    }
    let step_exp = (step.log10() + 1e-9).floor() as i32;
    let mag_exp = (magnitude.log10() + 1e-9).floor() as i32;
    if mag_exp >= 6 || step_exp <= -4 {
        let v_exp = (v.abs().log10() + 1e-9).floor() as i32;
        let digits = (v_exp - step_exp).clamp(0, 16) as usize;
        format!("{v:.digits$e}")
    } else {
        let digits = (-step_exp).max(0) as usize;
        format!("{v:.digits$}")
    }
}

/// The runs of consecutive finite points: a NaN or infinite point breaks the curve.
fn runs(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    points
        .split(|(x, y)| !(x.is_finite() && y.is_finite()))
        .filter(|run| !run.is_empty())
        .collect()
}

/// The colour of series `i`.
fn colour(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

/// Sizes of text in pixels.
struct Metrics {
    /// Advance of one character.
    char_w: f64,
    /// Height of one line of text.
    char_h: f64,
    /// Height of the title's line.
    title_h: f64,
}

/// Where things go on the canvas: the plot area and the legend box.
struct Layout {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// Top-left corner and size of the legend box, and the height of one entry.
    legend: (f64, f64, f64, f64, f64),
}

const PAD: f64 = 10.0;
const TICK: f64 = 5.0;
const SWATCH: f64 = 24.0;

impl Layout {
    fn new(chart: &Chart, (width, height): (usize, usize), m: &Metrics) -> Self {
        let text_w = |s: &str| s.chars().count() as f64 * m.char_w;
        let widest_y = chart
            .y
            .ticks
            .iter()
            .map(|(_, l)| text_w(l))
            .fold(0.0, f64::max);
        let last_x = chart.x.ticks.last().map_or(0.0, |(_, l)| text_w(l));
        let left = PAD + m.char_h + PAD + widest_y + TICK + 4.0;
        let right = width as f64 - PAD.max(last_x / 2.0 + 4.0);
        let top = PAD + m.title_h + PAD;
        let bottom = height as f64 - (PAD + m.char_h + PAD + m.char_h + TICK + 4.0);
        let names = chart
            .series
            .iter()
            .map(|s| text_w(s.name))
            .fold(0.0, f64::max);
        let entry_h = m.char_h + 6.0;
        let legend_w = SWATCH + names + 3.0 * PAD;
        let legend_h = chart.series.len() as f64 * entry_h + PAD;
        let legend = (
            right - legend_w - 8.0,
            top + 8.0,
            legend_w,
            legend_h,
            entry_h,
        );
        Layout {
            left,
            right,
            top,
            bottom,
            legend,
        }
    }

    fn x(&self, axis: &Axis, v: f64) -> f64 {
        self.left + axis.frac(v) * (self.right - self.left)
    }

    fn y(&self, axis: &Axis, v: f64) -> f64 {
        self.bottom - axis.frac(v) * (self.bottom - self.top)
    }
}

/// The chart as an SVG document.
fn svg(chart: &Chart) -> String {
    let metrics = Metrics {
        char_w: 7.0,
        char_h: 12.0,
        title_h: 16.0,
    };
    let (width, height) = SVG_SIZE;
    let at = Layout::new(chart, SVG_SIZE, &metrics);
    let mut s = String::new();
    // Writing to a String cannot fail: the results of write! are ignored below.
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" fill="#222">"##
    );
    let _ = writeln!(
        s,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="16">{}</text>"#,
        num(width as f64 / 2.0),
        num(PAD + metrics.title_h - 3.0),
        escape(chart.title)
    );
    for (v, label) in &chart.x.ticks {
        let x = num(at.x(&chart.x, *v));
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#ddd"/><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="black"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            num(at.top),
            num(at.bottom),
            num(at.bottom),
            num(at.bottom + TICK),
            num(at.bottom + TICK + 4.0 + metrics.char_h - 2.0),
            escape(label)
        );
    }
    for (v, label) in &chart.y.ticks {
        let y = num(at.y(&chart.y, *v));
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="black"/><text x="{}" y="{y}" dy="0.35em" text-anchor="end">{}</text>"##,
            num(at.left),
            num(at.right),
            num(at.left - TICK),
            num(at.left),
            num(at.left - TICK - 4.0),
            escape(label)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        num(at.left),
        num(at.top),
        num(at.right - at.left),
        num(at.bottom - at.top)
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        num((at.left + at.right) / 2.0),
        num(height as f64 - PAD - 2.0),
        escape(chart.x_label)
    );
    let (cx, cy) = (PAD + metrics.char_h - 2.0, (at.top + at.bottom) / 2.0);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>"#,
        num(cx),
        num(cy),
        num(cx),
        num(cy),
        escape(chart.y_label)
    );
    for (i, series) in chart.series.iter().enumerate() {
        let [r, g, b] = colour(i);
        let mut d = String::new();
        for run in runs(series.points) {
            for (j, &(x, y)) in run.iter().enumerate() {
                let cmd = if j == 0 { 'M' } else { 'L' };
                let _ = write!(
                    d,
                    "{cmd}{},{} ",
                    num(at.x(&chart.x, x)),
                    num(at.y(&chart.y, y))
                );
            }
            if let [(x, y)] = run {
                // A lone point has no line to draw: a dot marks it.
                let _ = writeln!(
                    s,
                    r#"<circle cx="{}" cy="{}" r="2.5" fill="rgb({r},{g},{b})"/>"#,
                    num(at.x(&chart.x, *x)),
                    num(at.y(&chart.y, *y))
                );
            }
        }
        if d.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            r#"<path d="{}" fill="none" stroke="rgb({r},{g},{b})" stroke-width="2" stroke-linejoin="round"><title>{}</title></path>"#,
            d.trim_end(),
            escape(series.name)
        );
    }
    if !chart.series.is_empty() {
        let (lx, ly, lw, lh, entry_h) = at.legend;
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="{}" height="{}" fill="white" fill-opacity="0.85" stroke="#999"/>"##,
            num(lx),
            num(ly),
            num(lw),
            num(lh)
        );
        for (i, series) in chart.series.iter().enumerate() {
            let [r, g, b] = colour(i);
            let y = ly + PAD / 2.0 + (i as f64 + 0.5) * entry_h;
            let _ = writeln!(
                s,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="rgb({r},{g},{b})" stroke-width="2"/><text x="{}" y="{}" dy="0.35em">{}</text>"#,
                num(lx + PAD),
                num(y),
                num(lx + PAD + SWATCH),
                num(y),
                num(lx + 2.0 * PAD + SWATCH),
                num(y),
                escape(series.name)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// A coordinate for SVG: one decimal, and never `NaN` or `inf`.
fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    format!("{:.1}", v)
}

/// `text` with the characters that XML reserves escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The training and validation loss of each epoch (or evaluation, in a run by steps), drawn to
/// `path` (SVG) under `title`.
pub fn loss_curves(
    path: &Path,
    title: &str,
    epochs: &[crate::nn::Epoch],
    unit: crate::nn::Unit,
) -> Result<()> {
    let at = |e: &crate::nn::Epoch| unit.of(e) as f64;
    let train: Vec<(f64, f64)> = epochs.iter().map(|e| (at(e), e.train_loss)).collect();
    let valid: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| e.valid_loss.map(|l| (at(e), l)))
        .collect();
    let mut series = vec![Series {
        name: "train",
        points: &train,
    }];
    if !valid.is_empty() {
        series.push(Series {
            name: "validation",
            points: &valid,
        });
    }
    write(path, title, unit.name(), "loss per sample", &series)
}
