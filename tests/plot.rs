//! Plots come out as SVG that other programs read, with every curve drawn, and bad paths fail cleanly.

mod common;

use std::path::{Path, PathBuf};

use simple_nn::nn::{Epoch, Unit};
use simple_nn::plot::{self, Series, PALETTE};

/// Two made-up loss curves over 50 epochs, the second with a NaN and an infinity in it.
fn curves() -> [Vec<(f64, f64)>; 2] {
    let train = (0..50)
        .map(|e| (e as f64, 0.7 * (-(e as f64) / 12.0).exp() + 0.02))
        .collect();
    let mut valid: Vec<(f64, f64)> = (0..50)
        .map(|e| (e as f64, 0.75 * (-(e as f64) / 15.0).exp() + 0.05))
        .collect();
    valid[20].1 = f64::NAN;
    valid[30].1 = f64::INFINITY;
    [train, valid]
}

/// A fresh empty folder for one test.
fn folder(test: &str) -> PathBuf {
    common::scratch(&format!("plot-{test}"))
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The `<path>` elements of an SVG document, one per line as the writer puts them.
fn paths(svg: &str) -> Vec<&str> {
    svg.lines().filter(|l| l.starts_with("<path")).collect()
}

/// The (x, y) pairs of a path's `d` attribute (`M x y L x y …`).
fn points_of(path: &str) -> Vec<(f64, f64)> {
    let d = path
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let numbers: Vec<f64> = d
        .split(|c: char| c == 'M' || c == 'L' || c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect();
    numbers.chunks(2).map(|p| (p[0], p[1])).collect()
}

#[test]
fn svg_has_a_path_and_a_legend_entry_per_series() {
    let dir = folder("svg");
    let path = dir.join("loss.svg");
    let [train, valid] = curves();
    let series = [
        Series {
            name: "train",
            points: &train,
        },
        Series {
            name: "valid <held out>",
            points: &valid,
        },
    ];
    plot::write(&path, "Loss & accuracy", "epoch", "loss", &series).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<path").count(), 2, "{svg}");
    assert!(svg.contains(">train<"));
    assert!(svg.contains("valid &lt;held out&gt;"));
    assert!(svg.contains("Loss &amp; accuracy"));
    assert!(svg.contains(">epoch<") && svg.contains(">loss<"));
    for colour in &PALETTE[..2] {
        let [r, g, b] = colour;
        assert!(svg.contains(&format!("rgb({r},{g},{b})")));
    }
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    // The NaN and the infinity break the second curve into three pieces.
    let valid_path = svg
        .lines()
        .filter(|l| l.starts_with("<path"))
        .nth(1)
        .unwrap();
    assert_eq!(valid_path.matches('M').count(), 3, "{valid_path}");
    // Ticks at round numbers: 0 to 50 by 10 on x.
    for label in [">0<", ">10<", ">50<"] {
        assert!(svg.contains(label), "{label} missing");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn png_is_refused_with_an_error_naming_svg_and_leaves_no_file() {
    let dir = folder("png");
    let [train, valid] = curves();
    let series = [
        Series {
            name: "train",
            points: &train,
        },
        Series {
            name: "valid",
            points: &valid,
        },
    ];
    for name in ["loss.png", "loss.PNG"] {
        let err = plot::write(&dir.join(name), "Loss", "epoch", "loss", &series)
            .unwrap_err()
            .to_string();
        // The fix, not the name echoed ("loss.svg.txt" holds ".svg" itself).
        assert!(
            err.contains(name) && err.contains("must end in .svg"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        assert!(plot::check_path(&dir.join(name)).is_err());
    }
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn degenerate_data_draws_without_dividing_by_zero() {
    let dir = folder("degenerate");
    let flat = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)];
    let lone = [(5.0, 5.0)];
    let broken = [(f64::NAN, 1.0), (1.0, f64::NEG_INFINITY)];
    let zeros = [(0.0, 0.0), (0.0, 0.0)];
    let cases: [&[Series]; 5] = [
        &[],
        &[Series {
            name: "empty",
            points: &[],
        }],
        &[Series {
            name: "flat",
            points: &flat,
        }],
        &[
            Series {
                name: "lone",
                points: &lone,
            },
            Series {
                name: "no finite point",
                points: &broken,
            },
        ],
        &[Series {
            name: "zeros",
            points: &zeros,
        }],
    ];
    for (i, series) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.svg"));
        plot::write(&path, "t", "x", "y", series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "case {i}: {svg}"
        );
    }
    // The flat line is drawn across the plot: three points at one height, left to right.
    let svg = std::fs::read_to_string(dir.join("case2.svg")).unwrap();
    let flat = points_of(paths(&svg)[0]);
    assert_eq!(flat.len(), 3, "{svg}");
    assert!(
        flat.windows(2).all(|p| p[0].0 < p[1].0 && p[0].1 == p[1].1),
        "{flat:?}"
    );
    assert!(
        flat[2].0 - flat[0].0 > 200.0,
        "{flat:?} spans too little of the plot"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_extension_is_an_error_naming_svg() {
    let dir = folder("extension");
    let points = [(0.0, 1.0), (1.0, 0.5)];
    let series = [Series {
        name: "loss",
        points: &points,
    }];
    for name in ["loss.jpg", "loss", "loss.svg.txt"] {
        let path = dir.join(name);
        let err = plot::write(&path, "t", "x", "y", &series)
            .unwrap_err()
            .to_string();
        // The fix, not the name echoed ("loss.svg.txt" holds ".svg" itself).
        assert!(
            err.contains(name) && err.contains("must end in .svg"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_folder_is_an_error_and_leaves_no_file() {
    let dir = folder("missing");
    let points = [(0.0, 1.0), (1.0, 0.5)];
    let series = [Series {
        name: "loss",
        points: &points,
    }];
    for name in ["loss.svg", "loss.SVG"] {
        let path = dir.join("no-such-folder").join(name);
        let err = plot::write(&path, "t", "x", "y", &series)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not exist") && err.contains("create it"),
            "{err}"
        );
        assert!(err.contains("no-such-folder"), "{err}");
        assert!(!path.exists());
    }
    assert!(files_in(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_plot_is_replaced_whole() {
    let dir = folder("replace");
    let path = dir.join("loss.svg");
    std::fs::write(&path, "old").unwrap();
    let points = [(0.0, 1.0), (1.0, 0.5)];
    let series = [Series {
        name: "loss",
        points: &points,
    }];
    plot::write(&path, "t", "x", "y", &series).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
    assert_eq!(files_in(&dir), ["loss.svg"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes the two curves to `$SIMPLE_NN_PLOT_DIR` (default: the system's temporary folder) to look
/// at, and checks that what a person would see is there: both names and both curves.
#[test]
fn sample_plot_for_a_human_to_look_at() {
    let dir = std::env::var_os("SIMPLE_NN_PLOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let [train, valid] = curves();
    let series = [
        Series {
            name: "train loss",
            points: &train,
        },
        Series {
            name: "validation loss",
            points: &valid,
        },
    ];
    let path = dir.join(format!("simple-nn-sample-loss-{}.svg", std::process::id()));
    let title = "XOR: loss per epoch (lr 0.5, momentum 0.9)";
    plot::write(&path, title, "epoch", "half SSE", &series).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.contains(title) && svg.contains(">train loss<") && svg.contains(">validation loss<")
    );
    let drawn = paths(&svg);
    assert_eq!(drawn.len(), 2, "{svg}");
    // 50 training points; 48 validation points around the NaN and the infinity.
    assert_eq!(points_of(drawn[0]).len(), 50);
    assert_eq!(points_of(drawn[1]).len(), 48);
    if std::env::var_os("SIMPLE_NN_PLOT_DIR").is_none() {
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn loss_curves_draw_training_and_validation_per_epoch() {
    let dir = folder("curves");
    let epoch = |n: usize, valid: Option<f64>| Epoch {
        epoch: n,
        step: 250 * n,
        lr: 0.1,
        train_loss: 1.0 / n as f64,
        valid_loss: valid,
        valid_accuracy: None,
        seconds: 0.0,
        rows: 0,
    };
    let with_valid: Vec<Epoch> = (1..=4).map(|n| epoch(n, Some(2.0 / n as f64))).collect();
    let path = dir.join("both.svg");
    plot::loss_curves(&path, "both", &with_valid, Unit::Epochs(4)).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert_eq!(paths(&svg).len(), 2);
    assert!(svg.contains(">train<") && svg.contains(">validation<"));
    assert!(svg.contains(">epoch<") && !svg.contains(">step<"));
    let without: Vec<Epoch> = (1..=4).map(|n| epoch(n, None)).collect();
    let path = dir.join("train.svg");
    plot::loss_curves(&path, "train only", &without, Unit::Epochs(4)).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert_eq!(paths(&svg).len(), 1);
    assert!(!svg.contains(">validation<"));
    // A run by steps draws its points at the steps, under a step axis: the last point's x is
    // that of step 1000, the right end of an axis from 250 to 1000.
    let path = dir.join("steps.svg");
    plot::loss_curves(&path, "by steps", &without, Unit::Steps(1000)).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains(">step<") && !svg.contains(">epoch<"));
    assert!(svg.contains(">1000<"), "the step axis reaches 1000");
    std::fs::remove_dir_all(&dir).unwrap();
}
