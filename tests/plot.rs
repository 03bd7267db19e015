//! Plots come out as SVG or PNG that other programs read, with every curve drawn, and bad paths fail cleanly.

use std::path::{Path, PathBuf};

use simple_nn::plot::{self, Series, PALETTE, PNG_SIZE};

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
    let dir = std::env::temp_dir().join(format!("simple-nn-plot-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn decode(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

fn count(rgb: &[u8], colour: [u8; 3]) -> usize {
    rgb.chunks_exact(3).filter(|p| *p == colour).count()
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
fn png_decodes_and_shows_every_curve() {
    let dir = folder("png");
    let path = dir.join("loss.PNG");
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
    plot::write(&path, "Loss", "epoch", "loss", &series).unwrap();
    let (width, height, rgb) = decode(&path);
    assert_eq!((width, height), PNG_SIZE);
    // A legend swatch is 3×25 pixels: a curve across the plot is far more.
    for colour in &PALETTE[..2] {
        let n = count(&rgb, *colour);
        assert!(n > 1000, "{colour:?}: {n} pixels");
    }
    assert_eq!(
        count(&rgb, PALETTE[2]),
        0,
        "a third colour without a third series"
    );
    // Text, frame and ticks are near-black.
    let dark = rgb
        .chunks_exact(3)
        .filter(|p| p.iter().all(|&v| v < 64))
        .count();
    assert!(dark > 2000, "{dark} dark pixels: no text?");
    let background = count(&rgb, [255, 255, 255]);
    assert!(background > width * height / 2, "almost all ink");
    assert_eq!(files_in(&dir), ["loss.PNG"], "a temporary file was left");
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
        for ext in ["svg", "png"] {
            let path = dir.join(format!("case{i}.{ext}"));
            plot::write(&path, "t", "x", "y", series).unwrap();
            if ext == "svg" {
                let svg = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !svg.contains("NaN") && !svg.contains("inf"),
                    "case {i}: {svg}"
                );
            } else {
                assert_eq!(decode(&path).0, PNG_SIZE.0);
            }
        }
    }
    // The flat line is drawn across the plot.
    let (_, _, rgb) = decode(&dir.join("case2.png"));
    assert!(count(&rgb, PALETTE[0]) > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_extension_is_an_error_naming_svg_and_png() {
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
        assert!(
            err.contains(name) && err.contains(".svg") && err.contains(".png"),
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
    for name in ["loss.svg", "loss.png"] {
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

/// Writes the two curves to `$SIMPLE_NN_PLOT_DIR` (default: the system's temporary folder) to look at.
#[test]
fn sample_plots_for_a_human_to_look_at() {
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
    for ext in ["svg", "png"] {
        let path = dir.join(format!("simple-nn-sample-loss.{ext}"));
        plot::write(
            &path,
            "XOR: loss per epoch (lr 0.5, momentum 0.9)",
            "epoch",
            "half SSE",
            &series,
        )
        .unwrap();
    }
}
