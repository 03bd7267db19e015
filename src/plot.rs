//! Loss curves drawn to `.svg` or `.png`, with no drawing library and no system fonts.
//!
//! [`write`] lays out shared axes with about five "nice" ticks each (1, 2 or
//! 5 times a power of ten), a title, axis labels and a legend, then renders
//! either SVG text or an RGB raster that the `png` crate encodes. The raster
//! draws its text with a 5×7 bitmap font embedded below, so the images look
//! the same on a machine without any fonts installed. Points whose x or y is
//! NaN or infinite are skipped: the curve breaks there.

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

/// Width and height of a PNG plot, in pixels.
pub const PNG_SIZE: (usize, usize) = (800, 500);

/// Width and height of an SVG plot, in pixels.
pub const SVG_SIZE: (usize, usize) = (640, 400);

/// Checks, before any long work, that `path` names a plot this module can write; true for SVG.
pub fn check_path(path: &Path) -> Result<bool> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if ext != "svg" && ext != "png" {
        fail!(
            "cannot plot to '{}': the file name must end in .svg or .png",
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
    Ok(ext == "svg")
}

/// Draws the curves on shared axes with a title, axis labels and a legend, and writes them to `path` (.svg or .png by extension; anything else is an error naming both).
pub fn write(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let is_svg = check_path(path)?;
    let chart = Chart::new(title, x_label, y_label, series);
    let bytes = if is_svg {
        svg(&chart).into_bytes()
    } else {
        png(&chart)?
    };
    crate::atomic::write(path, &bytes)
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

/// Sizes of text in pixels, for one renderer.
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

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [34, 34, 34];
const GRID: [u8; 3] = [221, 221, 221];
const FRAME: [u8; 3] = [0, 0, 0];
const LEGEND_EDGE: [u8; 3] = [160, 160, 160];
/// Text is the 5×7 font at this many pixels per font pixel; the title at one more.
const SCALE: usize = 2;

/// The chart as PNG bytes.
fn png(chart: &Chart) -> Result<Vec<u8>> {
    let metrics = Metrics {
        char_w: (6 * SCALE) as f64,
        char_h: (7 * SCALE) as f64,
        title_h: (7 * (SCALE + 1)) as f64,
    };
    let (width, height) = PNG_SIZE;
    let at = Layout::new(chart, PNG_SIZE, &metrics);
    let mut c = Canvas::new(width, height);
    let (left, right, top, bottom) = (
        at.left as i64,
        at.right as i64,
        at.top as i64,
        at.bottom as i64,
    );
    let text_h = metrics.char_h as i64;
    // The title one scale larger where it fits, centred on the image.
    let title_scale = if text_width(chart.title, SCALE + 1) <= width as i64 - 2 * PAD as i64 {
        SCALE + 1
    } else {
        SCALE
    };
    let title_w = text_width(chart.title, title_scale);
    c.text(
        (width as i64 - title_w).max(0) / 2,
        PAD as i64 + (7 * (SCALE + 1 - title_scale)) as i64,
        chart.title,
        title_scale,
        INK,
    );
    for (v, label) in &chart.x.ticks {
        let x = at.x(&chart.x, *v).round() as i64;
        c.rect(x, top, x, bottom, GRID);
        c.rect(x, bottom, x, bottom + TICK as i64, FRAME);
        let w = text_width(label, SCALE);
        c.text(x - w / 2, bottom + TICK as i64 + 4, label, SCALE, INK);
    }
    for (v, label) in &chart.y.ticks {
        let y = at.y(&chart.y, *v).round() as i64;
        c.rect(left, y, right, y, GRID);
        c.rect(left - TICK as i64, y, left, y, FRAME);
        let w = text_width(label, SCALE);
        c.text(
            left - TICK as i64 - 4 - w,
            y - text_h / 2,
            label,
            SCALE,
            INK,
        );
    }
    c.rect(left, top, right, top, FRAME);
    c.rect(left, bottom, right, bottom, FRAME);
    c.rect(left, top, left, bottom, FRAME);
    c.rect(right, top, right, bottom, FRAME);
    let x_label_w = text_width(chart.x_label, SCALE);
    c.text(
        (left + right - x_label_w) / 2,
        height as i64 - PAD as i64 - text_h,
        chart.x_label,
        SCALE,
        INK,
    );
    let y_label_w = text_width(chart.y_label, SCALE);
    c.text_up(
        PAD as i64,
        (top + bottom + y_label_w) / 2,
        chart.y_label,
        SCALE,
        INK,
    );
    for (i, series) in chart.series.iter().enumerate() {
        for run in runs(series.points) {
            let px: Vec<(f64, f64)> = run
                .iter()
                .map(|&(x, y)| (at.x(&chart.x, x), at.y(&chart.y, y)))
                .collect();
            if let [p] = px[..] {
                c.line(p, p, colour(i));
            }
            for pair in px.windows(2) {
                c.line(pair[0], pair[1], colour(i));
            }
        }
    }
    if !chart.series.is_empty() {
        let (lx, ly, lw, lh, entry_h) = at.legend;
        let (lx, ly) = (lx as i64, ly as i64);
        c.rect(lx, ly, lx + lw as i64, ly + lh as i64, LEGEND_EDGE);
        c.rect(
            lx + 1,
            ly + 1,
            lx + lw as i64 - 1,
            ly + lh as i64 - 1,
            WHITE,
        );
        for (i, series) in chart.series.iter().enumerate() {
            let y = ly as f64 + PAD / 2.0 + (i as f64 + 0.5) * entry_h;
            let x = lx as f64 + PAD;
            c.line((x, y), (x + SWATCH, y), colour(i));
            let tx = (x + SWATCH + PAD) as i64;
            c.text(tx, y as i64 - text_h / 2, series.name, SCALE, INK);
        }
    }
    c.encode()
}

/// Width in pixels of `text` in the bitmap font at `scale`.
fn text_width(text: &str, scale: usize) -> i64 {
    let n = text.chars().count() as i64;
    (n * 6 - 1).max(0) * scale as i64
}

/// An RGB image, drawn on pixel by pixel; anything outside it is dropped.
struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            rgb: vec![255; width * height * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, colour: [u8; 3]) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        self.rgb[i..i + 3].copy_from_slice(&colour);
    }

    /// Fills the rectangle with corners `(x0, y0)` and `(x1, y1)`, both included.
    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, colour: [u8; 3]) {
        // Clamped first, so that a huge rectangle costs no more than the image.
        let (w, h) = (self.width as i64, self.height as i64);
        for y in y0.clamp(-1, h)..=y1.clamp(-1, h) {
            for x in x0.clamp(-1, w)..=x1.clamp(-1, w) {
                self.set(x, y, colour);
            }
        }
    }

    /// A line 3 pixels wide from `a` to `b`: a 3×3 square stamped at every pixel step.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), colour: [u8; 3]) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let steps = dx.abs().max(dy.abs()).ceil().clamp(1.0, 10_000.0) as usize;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let x = (a.0 + t * dx).round() as i64;
            let y = (a.1 + t * dy).round() as i64;
            self.rect(x - 1, y - 1, x + 1, y + 1, colour);
        }
    }

    /// `text` with its top-left corner at `(x, y)`.
    fn text(&mut self, x: i64, y: i64, text: &str, scale: usize, colour: [u8; 3]) {
        self.glyphs(text, scale, colour, |col, row| (x + col, y + row));
    }

    /// `text` turned a quarter left, to read upwards, starting at its bottom-left corner `(x, y)`.
    fn text_up(&mut self, x: i64, y: i64, text: &str, scale: usize, colour: [u8; 3]) {
        self.glyphs(text, scale, colour, |col, row| (x + row, y - col));
    }

    /// Sets the pixels of `text`'s glyphs, placing font pixel (column, row) of the whole line with `at`.
    fn glyphs(
        &mut self,
        text: &str,
        scale: usize,
        colour: [u8; 3],
        at: impl Fn(i64, i64) -> (i64, i64),
    ) {
        let s = scale as i64;
        for (i, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for c in 0..5 {
                    if bits & (0x10 >> c) == 0 {
                        continue;
                    }
                    for (sy, sx) in (0..s).flat_map(|sy| (0..s).map(move |sx| (sy, sx))) {
                        let col = (i as i64 * 6 + c) * s + sx;
                        let (px, py) = at(col, r as i64 * s + sy);
                        self.set(px, py, colour);
                    }
                }
            }
        }
    }

    fn encode(&self) -> Result<Vec<u8>> {
        let fail =
            |e: png::EncodingError| candle_core::Error::Msg(format!("cannot encode the PNG: {e}"));
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(fail)?;
        writer.write_image_data(&self.rgb).map_err(fail)?;
        writer.finish().map_err(fail)?;
        Ok(bytes)
    }
}

/// The rows of `ch` in the bitmap font, top first, bit 4 the leftmost pixel; `?` for characters it lacks.
fn glyph(ch: char) -> [u8; 7] {
    let find = |c: char| FONT.iter().find(|(k, _)| *k == c).map(|(_, rows)| *rows);
    find(ch).or_else(|| find('?')).unwrap_or([0; 7])
}

/// A 5×7 bitmap font: digits, both alphabets and the punctuation that numbers and labels need.
#[rustfmt::skip]
const FONT: [(char, [u8; 7]); 77] = [
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    ('A', [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11]),
    ('B', [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E]),
    ('C', [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E]),
    ('D', [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C]),
    ('E', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F]),
    ('F', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10]),
    ('G', [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F]),
    ('H', [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('I', [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('J', [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C]),
    ('K', [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11]),
    ('L', [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F]),
    ('M', [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11]),
    ('N', [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11]),
    ('O', [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E]),
    ('P', [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10]),
    ('Q', [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D]),
    ('R', [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11]),
    ('S', [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E]),
    ('T', [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04]),
    ('U', [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E]),
    ('V', [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04]),
    ('W', [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A]),
    ('X', [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11]),
    ('Y', [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04]),
    ('Z', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F]),
    ('a', [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F]),
    ('b', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E]),
    ('c', [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E]),
    ('d', [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F]),
    ('e', [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E]),
    ('f', [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08]),
    ('g', [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
    ('h', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('i', [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E]),
    ('j', [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C]),
    ('k', [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12]),
    ('l', [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('m', [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11]),
    ('n', [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('o', [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E]),
    ('p', [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10]),
    ('q', [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01]),
    ('r', [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10]),
    ('s', [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E]),
    ('t', [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06]),
    ('u', [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D]),
    ('v', [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04]),
    ('w', [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A]),
    ('x', [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11]),
    ('y', [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
    ('z', [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F]),
    (' ', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C]),
    (',', [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08]),
    ('-', [0x00, 0x00, 0x00, 0x0E, 0x00, 0x00, 0x00]),
    ('+', [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00]),
    (':', [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00]),
    ('/', [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00]),
    ('(', [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02]),
    (')', [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08]),
    ('_', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F]),
    ('=', [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00]),
    ('%', [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03]),
    ('*', [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00]),
    ('\'', [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00]),
    ('?', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04]),
];
