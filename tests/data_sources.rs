//! Data sources: CSV and MNIST files read right or refused with a one-line reason, generated
//! data sets, splits, minibatches, standardisation, tensors and command-line source names.
//!
//! Expected values are worked out by hand from the tiny files each test writes.

mod common;

use common::{images_file, labels_file};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{DType, Device};
use flate2::write::GzEncoder;
use flate2::Compression;
use simple_nn::data::csv;
use simple_nn::data::idx;
use simple_nn::data::synthetic::{parity, spirals};
use simple_nn::data::{
    epoch_batches, memory, Normalization, Part, TableOptions, TargetKind, Targets,
};
use simple_nn::data::{Samples, Source};
use simple_nn::error::message;

/// A fresh, empty directory of this test's own.
fn temp_dir(test: &str) -> PathBuf {
    common::scratch(test)
}

/// Writes `text` to `data.csv` in a fresh directory for `test` and returns its path.
fn write_csv(test: &str, text: &str) -> PathBuf {
    let path = temp_dir(test).join("data.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// The one-line message of a load that must fail.
fn error_of<T: std::fmt::Debug>(result: candle_core::Result<T>) -> String {
    let msg = message(&result.expect_err("expected an error"));
    assert!(!msg.contains('\n'), "error spans lines: {msg}");
    msg
}

/// The error of reading `text` as a CSV, after checking that it names the file.
fn csv_error(test: &str, text: &str, kind: TargetKind) -> String {
    let path = write_csv(test, text);
    let msg = error_of(read(&path, kind));
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
    msg
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(msg.contains(part), "'{part}' missing from: {msg}");
    }
}

fn labels_of(samples: &Samples) -> (&[u32], usize) {
    match samples.targets() {
        Targets::Classes { labels, classes } => (labels, *classes),
        other => panic!("expected classes, got {other:?}"),
    }
}

fn values_of(samples: &Samples) -> (&[f32], usize) {
    match samples.targets() {
        Targets::Values { values, outputs } => (values, *outputs),
        other => panic!("expected values, got {other:?}"),
    }
}

// ---- CSV ------------------------------------------------------------------

/// Reads a training table with the default options (target `label`, commas).
fn read(path: &Path, kind: TargetKind) -> candle_core::Result<Samples> {
    Ok(csv::read(path, kind, &TableOptions::default())?.samples)
}

/// Reads a training table with `options`.
fn table(test: &str, text: &str, kind: TargetKind, options: &TableOptions) -> csv::Table {
    csv::read(&write_csv(test, text), kind, options).unwrap()
}

#[test]
fn csv_classification_takes_label_from_any_column_and_features_in_header_order() {
    let path = write_csv("csv_classes", "a,label,b\n1,2,3\n4,0,5.5\n7,1,0\n");
    let samples = read(&path, TargetKind::Classes).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples.n_features(), 2);
    assert_eq!(samples.features().unwrap(), [1.0, 3.0, 4.0, 5.5, 7.0, 0.0]);
    // Labels 0, 1, 2 are the class ids themselves.
    assert_eq!(labels_of(&samples), (&[2, 0, 1][..], 3));
    assert_eq!(samples.classes(), Some(3));
    assert_eq!(samples.n_outputs(), 3);
}

#[test]
fn csv_regression_reads_crlf_spaces_and_real_labels() {
    let path = write_csv(
        "csv_values",
        "x , y ,label\r\n1, 2, 0.5\r\n -3 ,4e1,-2.25\r\n",
    );
    let samples = read(&path, TargetKind::Values).unwrap();
    assert_eq!(samples.features().unwrap(), [1.0, 2.0, -3.0, 40.0]);
    assert_eq!(values_of(&samples), (&[0.5, -2.25][..], 1));
    assert_eq!(samples.classes(), None);
    assert_eq!(samples.n_outputs(), 1);
}

#[test]
fn csv_without_a_trailing_newline_reads_like_one_with_it() {
    let with = read(
        &write_csv("csv_nl_with", "label,x\n1,0.25\n0,0.75\n"),
        TargetKind::Classes,
    )
    .unwrap();
    let without = read(
        &write_csv("csv_nl_without", "label,x\n1,0.25\n0,0.75"),
        TargetKind::Classes,
    )
    .unwrap();
    assert_eq!(with, without);
    assert_eq!(with.features().unwrap(), [0.25, 0.75]);
    assert_eq!(labels_of(&with), (&[1, 0][..], 2));
}

#[test]
fn csv_class_labels_may_be_written_as_whole_floats() {
    let path = write_csv("csv_float_labels", "x,label\n0,1.0\n1,0\n2,1\n");
    let samples = read(&path, TargetKind::Classes).unwrap();
    assert_eq!(labels_of(&samples), (&[1, 0, 1][..], 2));
}

#[test]
fn csv_source_loads_the_same_file_for_both_parts() {
    let path = write_csv("csv_source", "x,label\n0,1\n1,0\n");
    let source = Source::Csv(path, TableOptions::default());
    let train = source.load(Part::Train, TargetKind::Classes).unwrap();
    let test = source.load(Part::Test, TargetKind::Classes).unwrap();
    assert_eq!(train, test);
    assert_eq!(train.len(), 2);
}

/// What pandas' `to_csv` writes by default: the row index first under no name, quotes around
/// fields that hold a comma, and (on Windows, or from Excel) `\r\n` and a byte-order mark.
#[test]
fn csv_reads_what_pandas_and_spreadsheets_write() {
    let text = "\u{feff},\"size, cm\",colour,label\r\n0,1.5,\"dark \"\"red\"\"\",yes\r\n1,2,blue,no\r\n\r\n2,\"3\",blue,yes\r\n";
    let t = table(
        "csv_pandas",
        text,
        TargetKind::Classes,
        &TableOptions::default(),
    );
    assert_eq!(t.schema.features[0].name, "size, cm");
    assert_eq!(t.schema.features[1].name, "colour");
    assert_eq!(
        t.schema.features[1].categories,
        Some(vec!["blue".to_string(), "dark \"red\"".to_string()])
    );
    // size, then colour one-hot over [blue, dark "red"]; the blank line is skipped.
    assert_eq!(
        t.samples.features().unwrap(),
        [1.5, 0.0, 1.0, 2.0, 1.0, 0.0, 3.0, 1.0, 0.0]
    );
    assert_eq!(labels_of(&t.samples), (&[1, 0, 1][..], 2));
    assert_eq!(
        t.schema.classes,
        Some(vec!["no".to_string(), "yes".to_string()])
    );
    let notes = t.notes.join("\n");
    assert_contains(&notes, &["row index", "0 = no, 1 = yes", "colour"]);
}

#[test]
fn csv_tsv_files_are_tab_separated_and_any_delimiter_can_be_given() {
    let dir = temp_dir("csv_tsv");
    let tsv = dir.join("data.tsv");
    std::fs::write(&tsv, "a\tlabel\tb\n1\t0\t2,5\n3\t1\t4\n").unwrap();
    let options = TableOptions::default();
    let err = error_of(csv::read(&tsv, TargetKind::Classes, &options));
    // The tab splits the fields; "2,5" is one field, and not a number.
    assert_contains(&err, &["line 2, column 'b'", "'2,5' is not a number"]);
    std::fs::write(&tsv, "a\tlabel\tb\n1\t0\t2.5\n3\t1\t4\n").unwrap();
    let samples = csv::read(&tsv, TargetKind::Classes, &options)
        .unwrap()
        .samples;
    assert_eq!(samples.features().unwrap(), [1.0, 2.5, 3.0, 4.0]);
    let semicolons = TableOptions {
        delimiter: Some(b';'),
        ..TableOptions::default()
    };
    let err = error_of(csv::read(
        &write_csv("csv_semicolon_comma", "a;label\n1,5;0\n2;1\n"),
        TargetKind::Values,
        &semicolons,
    ));
    assert_contains(&err, &["'1,5' is not a number"]);
    let t = table(
        "csv_semicolon_ok",
        "a;label\n1.5;0\n2;1\n",
        TargetKind::Values,
        &semicolons,
    );
    assert_eq!(t.samples.features().unwrap(), [1.5, 2.0]);
}

#[test]
fn csv_target_is_picked_by_name_wherever_it_stands() {
    let options = TableOptions {
        target: "price".to_string(),
        ..TableOptions::default()
    };
    let t = table(
        "csv_target",
        "price,a,label\n9.5,1,2\n3,4,5\n",
        TargetKind::Values,
        &options,
    );
    // `label` is an ordinary feature here.
    assert_eq!(t.samples.features().unwrap(), [1.0, 2.0, 4.0, 5.0]);
    assert_eq!(values_of(&t.samples), (&[9.5, 3.0][..], 1));
    assert_eq!(t.schema.target, "price");
    let msg = error_of(csv::read(
        &write_csv("csv_target_missing", "a,b\n1,2\n"),
        TargetKind::Values,
        &options,
    ));
    assert_contains(&msg, &["no column named 'price'", "a, b", "--target"]);
}

#[test]
fn csv_text_labels_become_sorted_classes_and_numbers_off_0_to_k_are_mapped() {
    let t = table(
        "csv_text_labels",
        "x,label\n1,virginica\n2,setosa\n3,versicolor\n4,setosa\n",
        TargetKind::Classes,
        &TableOptions::default(),
    );
    assert_eq!(labels_of(&t.samples), (&[2, 0, 1, 0][..], 3));
    assert_contains(
        &t.notes.join("\n"),
        &["0 = setosa, 1 = versicolor, 2 = virginica"],
    );
    // Labels 1 and 2 are two classes, not three with an unused class 0; -1 and 1 sort numerically.
    let t = table(
        "csv_one_two",
        "x,label\n0,2\n1,1\n2,2.0\n",
        TargetKind::Classes,
        &TableOptions::default(),
    );
    assert_eq!(labels_of(&t.samples), (&[1, 0, 1][..], 2));
    assert_eq!(
        t.schema.classes,
        Some(vec!["1".to_string(), "2".to_string()])
    );
    assert_contains(&t.notes.join("\n"), &["0 = 1, 1 = 2"]);
    let t = table(
        "csv_signs",
        "x,label\n0,1\n1,-1\n2,10\n",
        TargetKind::Classes,
        &TableOptions::default(),
    );
    assert_eq!(
        t.schema.classes,
        Some(vec!["-1".to_string(), "1".to_string(), "10".to_string()])
    );
    // Ids 0 to K-1 stay as they are, with nothing to say.
    let t = table(
        "csv_ids",
        "x,label\n0,1\n1,0\n",
        TargetKind::Classes,
        &TableOptions::default(),
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn csv_text_features_are_one_hot_over_their_sorted_categories() {
    let t = table(
        "csv_one_hot",
        "colour,x,label\nred,1,0\ngreen,2,1\nred,3,1\nblue,4,0\n",
        TargetKind::Classes,
        &TableOptions::default(),
    );
    assert_eq!(t.schema.width(), 4);
    #[rustfmt::skip]
    assert_eq!(t.samples.features().unwrap(), [
        0.0, 0.0, 1.0, 1.0,
        0.0, 1.0, 0.0, 2.0,
        0.0, 0.0, 1.0, 3.0,
        1.0, 0.0, 0.0, 4.0,
    ]);
}

/// A file with the training columns in another order, and one more, is read into the same
/// samples (the features matched by name); a missing column, an unseen category or an unseen
/// class is an error naming it; without the target a file is read unlabeled where allowed.
#[test]
fn csv_files_are_read_through_the_training_schema_by_column_name() {
    let options = TableOptions::default();
    let train = table(
        "csv_schema_train",
        "a,colour,label,b\n1,red,yes,2\n3,blue,no,4\n",
        TargetKind::Classes,
        &options,
    );
    let reordered = write_csv(
        "csv_schema_reordered",
        "note,b,label,colour,a\nx,2,yes,red,1\ny,4,no,blue,3\n",
    );
    let read = csv::read_with(
        &reordered,
        &train.schema,
        TargetKind::Classes,
        &options,
        true,
    )
    .unwrap();
    assert_eq!(read.samples, train.samples);
    assert_contains(&read.notes.join("\n"), &["left out: note"]);
    let unlabeled = write_csv("csv_schema_unlabeled", "b,colour,a\n2,red,1\n");
    let read = csv::read_with(
        &unlabeled,
        &train.schema,
        TargetKind::Classes,
        &options,
        false,
    )
    .unwrap();
    assert_eq!(
        read.samples.features().unwrap(),
        &train.samples.features().unwrap()[..4]
    );
    assert_eq!(read.samples.targets(), &Targets::Unknown);
    let msg = error_of(csv::read_with(
        &unlabeled,
        &train.schema,
        TargetKind::Classes,
        &options,
        true,
    ));
    assert_contains(&msg, &["no column named 'label'"]);
    for (name, text, parts) in [
        (
            "csv_schema_missing",
            "a,label\n1,yes\n",
            &["no column named 'colour'", "a, colour, b"][..],
        ),
        (
            "csv_schema_category",
            "a,colour,label,b\n1,green,yes,2\n",
            &["line 2, column 'colour'", "'green'", "blue, red"][..],
        ),
        (
            "csv_schema_class",
            "a,colour,label,b\n1,red,maybe,2\n",
            &["line 2, column 'label'", "class 'maybe'", "no, yes"][..],
        ),
        (
            "csv_schema_text",
            "a,colour,label,b\n1,red,yes,two\n",
            &["line 2, column 'b'", "'two' is not a number"][..],
        ),
    ] {
        let path = write_csv(name, text);
        let msg = error_of(csv::read_with(
            &path,
            &train.schema,
            TargetKind::Classes,
            &options,
            true,
        ));
        assert_contains(&msg, parts);
    }
}

#[test]
fn csv_missing_values_are_errors_unless_incomplete_rows_are_dropped() {
    let text = "a,b,label\n1,2,0\n3,NA,1\n,5,0\n6,nan,1\n7,8,\n9,10,1\n";
    for (i, missing) in ["''", "'NA'"].iter().enumerate() {
        let text = if i == 0 {
            "a,b,label\n1,2,0\n,5,0\n"
        } else {
            text
        };
        let msg = csv_error(&format!("csv_missing_{i}"), text, TargetKind::Classes);
        let at = if i == 0 {
            "line 3, column 'a'"
        } else {
            "line 3, column 'b'"
        };
        assert_contains(&msg, &[at, missing, "missing", "--drop-incomplete"]);
    }
    let dropping = TableOptions {
        drop_incomplete: true,
        ..TableOptions::default()
    };
    let t = table("csv_drop", text, TargetKind::Classes, &dropping);
    assert_eq!(t.samples.features().unwrap(), [1.0, 2.0, 9.0, 10.0]);
    assert_contains(&t.notes.join("\n"), &["left out 4 of 6 rows"]);
    let msg = error_of(csv::read(
        &write_csv("csv_drop_all", "a,label\nNA,1\n"),
        TargetKind::Classes,
        &dropping,
    ));
    assert_contains(&msg, &["every row has a missing value"]);
}

#[test]
fn csv_column_of_numbers_with_a_stray_text_is_an_error_naming_both() {
    let msg = csv_error(
        "csv_abc",
        "x1,x2,label\n1,2,0\n3,abc,1\n",
        TargetKind::Classes,
    );
    assert_contains(
        &msg,
        &[
            "line 3, column 'x2': 'abc' is not a number",
            "line 2 holds '2'",
        ],
    );
}

#[test]
fn csv_text_column_with_too_many_categories_is_an_error() {
    let mut text = "id,label\n".to_string();
    for i in 0..=csv::MAX_CATEGORIES {
        text += &format!("row{i},0\n");
    }
    let msg = csv_error("csv_ids_column", &text, TargetKind::Classes);
    assert_contains(
        &msg,
        &["column 'id'", "more than 1000 different texts", "one-hot"],
    );
}

#[test]
fn csv_empty_file_is_an_error_at_line_1() {
    let msg = csv_error("csv_empty", "", TargetKind::Classes);
    assert_contains(&msg, &["line 1", "empty", "header"]);
    let msg = csv_error("csv_blank", "\n\r\n", TargetKind::Classes);
    assert_contains(&msg, &["line 1", "empty"]);
}

#[test]
fn csv_header_without_rows_is_an_error_at_line_2() {
    let msg = csv_error("csv_header_only", "x,label\n", TargetKind::Classes);
    assert_contains(&msg, &["line 2", "no data rows"]);
}

#[test]
fn csv_without_label_column_is_an_error_listing_the_columns() {
    let msg = csv_error("csv_no_label", "x,y\n1,2\n", TargetKind::Classes);
    assert_contains(&msg, &["line 1", "no column named 'label'", "x, y"]);
}

#[test]
fn csv_duplicate_column_names_are_an_error_naming_the_column() {
    let msg = csv_error("csv_dup", "x,label,x\n1,0,2\n", TargetKind::Classes);
    assert_contains(&msg, &["line 1", "column 'x'", "columns 1 and 3"]);
}

#[test]
fn csv_unnamed_column_past_the_first_is_an_error() {
    let msg = csv_error("csv_unnamed", "x,,label\n1,2,0\n", TargetKind::Classes);
    assert_contains(&msg, &["line 1, column 2", "no name"]);
}

#[test]
fn csv_with_only_a_label_column_is_an_error() {
    let msg = csv_error("csv_no_features", "label\n1\n", TargetKind::Classes);
    assert_contains(&msg, &["line 1", "column 'label'", "feature column"]);
}

#[test]
fn csv_short_row_is_an_error_naming_the_missing_column() {
    let msg = csv_error("csv_short", "a,b,label\n1,2,0\n3,4\n", TargetKind::Classes);
    assert_contains(&msg, &["line 3", "2 fields", "3 columns", "column 'label'"]);
}

#[test]
fn csv_long_row_is_an_error_naming_the_extra_field() {
    let msg = csv_error("csv_long", "a,label\n1,0,9\n", TargetKind::Classes);
    assert_contains(&msg, &["line 2", "3 fields", "2 columns", "field 3"]);
}

#[test]
fn csv_line_numbers_count_the_lines_of_quoted_fields_and_blank_lines() {
    let msg = csv_error(
        "csv_lines",
        "a,b,label\n\"1\n\",2,0\n\n3,x,1\n",
        TargetKind::Classes,
    );
    assert_contains(&msg, &["line 5, column 'b'"]);
}

#[test]
fn csv_not_utf8_is_an_error_naming_the_line() {
    let path = temp_dir("csv_latin1").join("data.csv");
    std::fs::write(&path, b"a,label\n1,0\n2,caf\xe9\n").unwrap();
    let msg = error_of(csv::read(
        &path,
        TargetKind::Classes,
        &TableOptions::default(),
    ));
    assert_contains(&msg, &["line 3", "not UTF-8", "save the file as UTF-8"]);
}

#[test]
fn csv_nan_inf_and_out_of_range_values_are_errors() {
    for (i, bad) in ["inf", "-infinity", "1e50"].iter().enumerate() {
        let text = format!("a,label\n1,0\n{bad},1\n");
        let msg = csv_error(&format!("csv_nonfinite_{i}"), &text, TargetKind::Classes);
        assert_contains(&msg, &["line 3, column 'a'", bad, "not a finite number"]);
    }
    let msg = csv_error("csv_inf_label", "a,label\n1,inf\n", TargetKind::Values);
    assert_contains(&msg, &["line 2, column 'label'", "not a finite number"]);
}

#[test]
fn csv_fractional_class_label_is_an_error_but_fine_for_regression() {
    let text = "a,label\n1,1.5\n";
    let msg = csv_error("csv_frac", text, TargetKind::Classes);
    assert_contains(
        &msg,
        &[
            "line 2, column 'label'",
            "'1.5' is not a whole number",
            "--loss mse",
        ],
    );
    let samples = read(&write_csv("csv_frac_ok", text), TargetKind::Values).unwrap();
    assert_eq!(values_of(&samples), (&[1.5][..], 1));
}

#[test]
fn csv_missing_file_is_an_error_naming_it() {
    let path = temp_dir("csv_missing").join("nope.csv");
    let msg = error_of(read(&path, TargetKind::Classes));
    assert_contains(&msg, &["cannot read csv", &path.display().to_string()]);
}

// ---- IDX / MNIST ----------------------------------------------------------

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Three 2×2 training images and two 2×2 test images, with their labels.
const TRAIN_PIXELS: [u8; 12] = [0, 255, 51, 102, 255, 0, 0, 255, 1, 2, 3, 4];
const TRAIN_LABELS: [u8; 3] = [7, 0, 9];
const TEST_PIXELS: [u8; 8] = [10, 20, 30, 40, 50, 60, 70, 80];
const TEST_LABELS: [u8; 2] = [3, 5];

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A directory with valid training files and nothing else.
fn train_dir(test: &str) -> PathBuf {
    let dir = temp_dir(test);
    write(
        &dir,
        "train-images-idx3-ubyte",
        &images_file(3, 2, 2, &TRAIN_PIXELS),
    );
    write(&dir, "train-labels-idx1-ubyte", &labels_file(&TRAIN_LABELS));
    dir
}

fn assert_mnist_equals(samples: &Samples, pixels: &[u8], labels: &[u8]) {
    assert_eq!(samples.n_features(), 4);
    assert_eq!(samples.len(), labels.len());
    let expected: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    assert_eq!(samples.features().unwrap(), expected);
    let labels: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
    assert_eq!(labels_of(samples), (&labels[..], 10));
}

#[test]
fn mnist_loads_plain_train_files_and_gzipped_test_files() {
    let dir = train_dir("mnist_both");
    write(
        &dir,
        "t10k-images-idx3-ubyte.gz",
        &gzip(&images_file(2, 2, 2, &TEST_PIXELS)),
    );
    write(
        &dir,
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&labels_file(&TEST_LABELS)),
    );
    let source = Source::Mnist(dir);
    // `kind` is ignored: MNIST is classification.
    let train = source.load(Part::Train, TargetKind::Values).unwrap();
    let test = source.load(Part::Test, TargetKind::Classes).unwrap();
    assert_mnist_equals(&train, &TRAIN_PIXELS, &TRAIN_LABELS);
    assert_mnist_equals(&test, &TEST_PIXELS, &TEST_LABELS);
    // 255 is exactly 1.0 and 51 is 0.2 in float32.
    assert_eq!(train.features().unwrap()[..4], [0.0, 1.0, 0.2, 0.4]);
}

/// MNIST's pixels stay one byte each in memory until a batch converts its rows; splits and
/// selections share them.
#[test]
fn mnist_pixels_stay_bytes_and_splits_share_them() {
    let samples = Source::Mnist(train_dir("mnist_bytes"))
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    assert_eq!(samples.stored_bytes(), TRAIN_PIXELS.len());
    let (train, valid) = samples.split(0.34, 1).unwrap();
    assert_eq!((train.len(), valid.len()), (2, 1));
    assert!(train.shares_values_with(&samples) && valid.shares_values_with(&samples));
    let picked = train.select(&[1, 0, 1]);
    assert!(picked.shares_values_with(&samples));
    // A batch holds the selected rows as float32, p / 255.
    let (xs, ys) = samples.batch(&[2, 0], DType::F32, &Device::Cpu).unwrap();
    let expected: Vec<f32> = [8, 9, 10, 11, 0, 1, 2, 3]
        .iter()
        .map(|&i| f32::from(TRAIN_PIXELS[i]) / 255.0)
        .collect();
    assert_eq!(
        xs.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        expected
    );
    assert_eq!(ys.to_vec1::<u32>().unwrap(), [9, 7]);
}

#[test]
fn mnist_mixes_plain_images_with_gzipped_labels() {
    let dir = temp_dir("mnist_mixed");
    write(
        &dir,
        "train-images-idx3-ubyte",
        &images_file(3, 2, 2, &TRAIN_PIXELS),
    );
    write(
        &dir,
        "train-labels-idx1-ubyte.gz",
        &gzip(&labels_file(&TRAIN_LABELS)),
    );
    let train = idx::mnist(&dir, Part::Train).unwrap();
    assert_mnist_equals(&train, &TRAIN_PIXELS, &TRAIN_LABELS);
}

#[test]
fn idx_readers_return_counts_and_image_size() {
    let dir = train_dir("idx_readers");
    let (pixels, rows, features) = idx::read_images(&dir.join("train-images-idx3-ubyte")).unwrap();
    assert_eq!((pixels.len(), rows, features), (12, 3, 4));
    let labels = idx::read_labels(&dir.join("train-labels-idx1-ubyte")).unwrap();
    assert_eq!(labels, [7, 0, 9]);
}

#[test]
fn idx_wrong_magic_is_an_error_showing_both_numbers() {
    let dir = temp_dir("idx_magic");
    // A labels file where the images should be.
    write(&dir, "train-images-idx3-ubyte", &labels_file(&TRAIN_LABELS));
    write(&dir, "train-labels-idx1-ubyte", &labels_file(&TRAIN_LABELS));
    let msg = error_of(idx::mnist(&dir, Part::Train));
    assert_contains(
        &msg,
        &[
            "train-images-idx3-ubyte",
            "expected magic 0x00000803 (IDX images), found 0x00000801",
        ],
    );
    let path = write(&dir, "junk", b"PK\x03\x04 not an idx file");
    let msg = error_of(idx::read_labels(&path));
    assert_contains(
        &msg,
        &["expected magic 0x00000801 (IDX labels), found 0x504b0304"],
    );
}

#[test]
fn idx_header_promising_a_billion_images_in_20_bytes_fails_at_once() {
    let dir = temp_dir("idx_liar");
    // 16-byte header claiming 1_000_000_000 images of 2×2, then 4 bytes.
    let lie = images_file(1_000_000_000, 2, 2, &[1, 2, 3, 4]);
    assert_eq!(lie.len(), 20);
    let plain = write(&dir, "plain", &lie);
    let gz = write(&dir, "plain.gz", &gzip(&lie));
    for path in [plain, gz] {
        let start = Instant::now();
        let msg = error_of(idx::read_images(&path));
        // Allocating 4 GB of bytes and 16 GB of floats would take far longer than this.
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_contains(
            &msg,
            &[
                &path.display().to_string(),
                "1000000000 × 2 × 2 = 4000000000 bytes",
                "only 4 follow",
            ],
        );
    }
}

#[test]
fn idx_truncated_files_are_errors() {
    let dir = temp_dir("idx_truncated");
    let full = images_file(3, 2, 2, &TRAIN_PIXELS);
    let cut = write(&dir, "cut", &full[..full.len() - 1]);
    assert_contains(
        &error_of(idx::read_images(&cut)),
        &["3 × 2 × 2 = 12 bytes", "only 11 follow", "truncated"],
    );
    let header = write(&dir, "header", &full[..10]);
    assert_contains(
        &error_of(idx::read_images(&header)),
        &["10 bytes are too few for the 16-byte header"],
    );
    let empty = write(&dir, "empty", b"");
    assert_contains(
        &error_of(idx::read_labels(&empty)),
        &["0 bytes are too few"],
    );
    // A gzip stream cut in the middle.
    let gz = gzip(&full);
    let gz_cut = write(&dir, "cut.gz", &gz[..gz.len() / 2]);
    assert_contains(&error_of(idx::read_images(&gz_cut)), &["cut.gz", "damaged"]);
}

#[test]
fn idx_data_beyond_the_header_sizes_is_an_error() {
    let dir = temp_dir("idx_long");
    let mut bytes = labels_file(&TRAIN_LABELS);
    bytes.push(4);
    let path = write(&dir, "long", &bytes);
    assert_contains(
        &error_of(idx::read_labels(&path)),
        &["more data follows the 3 = 3 bytes"],
    );
}

#[test]
fn mnist_image_and_label_counts_must_match() {
    let dir = train_dir("mnist_counts");
    write(&dir, "train-labels-idx1-ubyte", &labels_file(&[7, 0]));
    let msg = error_of(idx::mnist(&dir, Part::Train));
    assert_contains(&msg, &["holds 3 images", "holds 2 labels"]);
}

#[test]
fn mnist_label_10_or_more_is_an_error() {
    let dir = train_dir("mnist_label_10");
    write(&dir, "train-labels-idx1-ubyte", &labels_file(&[7, 10, 9]));
    let msg = error_of(idx::mnist(&dir, Part::Train));
    assert_contains(
        &msg,
        &["train-labels-idx1-ubyte", "label 1 is 10", "0 to 9"],
    );
}

#[test]
fn mnist_missing_files_are_errors_listing_the_names_tried() {
    let dir = temp_dir("mnist_missing");
    let msg = error_of(idx::mnist(&dir, Part::Test));
    assert_contains(
        &msg,
        &[
            "'t10k-images-idx3-ubyte'",
            "'t10k-images-idx3-ubyte.gz'",
            "neither",
        ],
    );
    // Images present, labels missing.
    let dir = train_dir("mnist_missing_labels");
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    let msg = error_of(idx::mnist(&dir, Part::Train));
    assert_contains(
        &msg,
        &["'train-labels-idx1-ubyte'", "'train-labels-idx1-ubyte.gz'"],
    );
    let msg = error_of(idx::mnist(&dir.join("no-such-dir"), Part::Train));
    assert_contains(&msg, &["no-such-dir", "not a directory"]);
}

// ---- Generated data -------------------------------------------------------

#[test]
fn parity_3_is_the_binary_counting_table_labelled_by_xor() {
    let samples = parity(3).unwrap();
    // Rows 000, 001, …, 111; labels are the number of ones, mod 2.
    let expected: Vec<f32> = [
        [0, 0, 0],
        [0, 0, 1],
        [0, 1, 0],
        [0, 1, 1],
        [1, 0, 0],
        [1, 0, 1],
        [1, 1, 0],
        [1, 1, 1],
    ]
    .iter()
    .flatten()
    .map(|&b| b as f32)
    .collect();
    assert_eq!(samples.features().unwrap(), expected);
    assert_eq!(labels_of(&samples), (&[0, 1, 1, 0, 1, 0, 0, 1][..], 2));
}

#[test]
fn parity_n_has_2_pow_n_distinct_rows_with_xor_labels() {
    for bits in 1..=10 {
        let samples = Source::Parity(bits)
            .load(Part::Train, TargetKind::Values)
            .unwrap();
        assert_eq!(samples.len(), 1 << bits);
        assert_eq!(samples.n_features(), bits);
        let (labels, classes) = labels_of(&samples);
        assert_eq!(classes, 2);
        let mut rows = std::collections::HashSet::new();
        for (row, &label) in samples.features().unwrap().chunks(bits).zip(labels) {
            let ones = row.iter().filter(|&&v| v == 1.0).count();
            assert!(row.iter().all(|&v| v == 0.0 || v == 1.0));
            assert_eq!(label as usize, ones % 2);
            assert!(rows.insert(row.iter().map(|&v| v as u8).collect::<Vec<_>>()));
        }
    }
    assert_eq!(
        Source::Parity(4)
            .load(Part::Test, TargetKind::Classes)
            .unwrap(),
        parity(4).unwrap()
    );
}

#[test]
fn parity_outside_1_to_20_bits_is_an_error() {
    assert_contains(&error_of(parity(0)), &["1 to 20 bits, got 0"]);
    assert_contains(&error_of(parity(21)), &["1 to 20 bits, got 21"]);
}

#[test]
fn spirals_have_both_classes_in_equal_numbers_within_about_unit_range() {
    let samples = spirals(500, 0).unwrap();
    assert_eq!(samples.len(), 1000);
    assert_eq!(samples.n_features(), 2);
    let (labels, classes) = labels_of(&samples);
    assert_eq!(classes, 2);
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 500);
    // Radius below 1 plus noise of std 0.02: 0.2 is ten standard deviations.
    assert!(samples.features().unwrap().iter().all(|v| v.abs() < 1.2));
    let widest = samples
        .features()
        .unwrap()
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(widest > 0.8, "spirals only reach {widest}");
}

#[test]
fn spirals_are_the_same_for_a_seed_and_differ_between_seeds() {
    assert_eq!(spirals(100, 7).unwrap(), spirals(100, 7).unwrap());
    assert_ne!(spirals(100, 7).unwrap(), spirals(100, 8).unwrap());
    let source: Source = "spirals:50".parse().unwrap();
    let train = source.load(Part::Train, TargetKind::Values).unwrap();
    let test = source.load(Part::Test, TargetKind::Classes).unwrap();
    assert_eq!(train, spirals(50, 0).unwrap());
    assert_eq!(test, spirals(50, 1).unwrap());
}

#[test]
fn spirals_of_zero_points_is_an_error() {
    assert_contains(&error_of(spirals(0, 0)), &["got 0"]);
}

// ---- Samples --------------------------------------------------------------

/// `n` samples whose single feature is their own index and whose label is index mod 3.
fn numbered(n: usize) -> Samples {
    Samples::new(
        (0..n).map(|i| i as f32).collect(),
        1,
        Targets::Classes {
            labels: (0..n).map(|i| (i % 3) as u32).collect(),
            classes: 3,
        },
    )
    .unwrap()
}

#[test]
fn samples_new_refuses_inconsistent_parts() {
    let classes = |labels: Vec<u32>| Targets::Classes { labels, classes: 2 };
    assert_contains(
        &error_of(Samples::new(vec![1.0, 2.0], 0, classes(vec![0, 1]))),
        &["n_features = 0"],
    );
    assert_contains(
        &error_of(Samples::new(vec![1.0, 2.0, 3.0], 2, classes(vec![0]))),
        &["3 feature values", "rows of 2"],
    );
    assert_contains(
        &error_of(Samples::new(vec![1.0, 2.0], 1, classes(vec![0]))),
        &["1 labels for 2 samples"],
    );
    assert_contains(
        &error_of(Samples::new(vec![1.0, 2.0], 1, classes(vec![0, 2]))),
        &["label 2 of sample 1", "classes = 2"],
    );
    assert_contains(
        &error_of(Samples::new(vec![1.0, f32::NAN], 1, classes(vec![0, 1]))),
        &["feature 0 of sample 1 is NaN"],
    );
    let values = Targets::Values {
        values: vec![1.0, 2.0, 3.0],
        outputs: 2,
    };
    assert_contains(
        &error_of(Samples::new(vec![1.0, 2.0], 1, values)),
        &["3 target values for 2 samples of 2 outputs"],
    );
}

#[test]
fn into_values_turns_class_ids_into_one_real_target() {
    let samples = numbered(4).into_values();
    assert_eq!(values_of(&samples), (&[0.0, 1.0, 2.0, 0.0][..], 1));
    assert_eq!(samples.features().unwrap(), [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(samples.clone().into_values(), samples);
}

#[test]
fn select_takes_rows_in_the_order_given() {
    let picked = numbered(5).select(&[4, 1, 1]);
    assert_eq!(picked.features().unwrap(), [4.0, 1.0, 1.0]);
    assert_eq!(labels_of(&picked), (&[1, 1, 1][..], 3));
}

#[test]
fn split_sizes_are_disjoint_cover_everything_and_follow_the_seed() {
    let samples = numbered(10);
    let (train, valid) = samples.split(0.3, 5).unwrap();
    assert_eq!((train.len(), valid.len()), (7, 3));
    let mut all: Vec<f32> = train.features().unwrap().to_vec();
    all.extend_from_slice(&valid.features().unwrap());
    all.sort_by(f32::total_cmp);
    assert_eq!(all, samples.features().unwrap());
    // Labels travel with their rows.
    for s in [&train, &valid] {
        for (x, &l) in s.features().unwrap().iter().zip(labels_of(s).0) {
            assert_eq!(*x as u32 % 3, l);
        }
    }
    assert_eq!(samples.split(0.3, 5).unwrap(), (train, valid));
    let big = numbered(100);
    assert_ne!(big.split(0.2, 1).unwrap(), big.split(0.2, 2).unwrap());
}

#[test]
fn split_of_zero_keeps_everything_for_training() {
    let samples = numbered(6);
    let (train, valid) = samples.split(0.0, 3).unwrap();
    assert_eq!(train.len(), 6);
    assert!(valid.is_empty());
    assert_eq!(valid.len(), 0);
}

#[test]
fn split_fractions_outside_0_to_1_or_leaving_no_training_data_are_errors() {
    let samples = numbered(10);
    for bad in [1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert_contains(&error_of(samples.split(bad, 0)), &["out of range"]);
    }
    assert_contains(
        &error_of(numbered(1).split(0.5, 0)),
        &["leaves no training samples"],
    );
}

#[test]
fn epoch_batches_cover_every_index_once_in_batches_of_the_given_size() {
    let batches = epoch_batches(103, 10, 9, 0).unwrap();
    assert_eq!(batches.len(), 11);
    assert!(batches[..10].iter().all(|b| b.len() == 10));
    assert_eq!(batches[10].len(), 3);
    let mut all: Vec<usize> = batches.concat();
    assert_ne!(all, (0..103).collect::<Vec<_>>(), "not shuffled");
    all.sort_unstable();
    assert_eq!(all, (0..103).collect::<Vec<_>>());
    assert_eq!(epoch_batches(103, 10, 9, 0).unwrap(), batches);
    assert_ne!(epoch_batches(103, 10, 10, 0).unwrap(), batches);
    assert_ne!(
        epoch_batches(103, 10, 9, 1).unwrap(),
        batches,
        "another epoch, another order"
    );
    assert!(epoch_batches(0, 4, 0, 0).unwrap().is_empty());
}

#[test]
fn epoch_batches_of_size_0_is_an_error() {
    assert_contains(&error_of(epoch_batches(10, 0, 0, 0)), &["batch size 0"]);
}

#[test]
fn normalization_centres_and_scales_each_feature() {
    // Two features on very different scales: i and 1000 + 50 * i^2.
    let features: Vec<f32> = (0..20)
        .flat_map(|i| [i as f32, 1000.0 + 50.0 * (i * i) as f32])
        .collect();
    let labels = vec![0; 20];
    let mut samples = Samples::new(features, 2, Targets::Classes { labels, classes: 1 }).unwrap();
    let norm = Normalization::measure(&samples).unwrap();
    // Feature 0 is 0..19: mean 9.5, population variance (20^2 - 1) / 12 = 33.25.
    assert!((norm.mean[0] - 9.5).abs() < 1e-5);
    assert!((norm.std[0] - 33.25f32.sqrt()).abs() < 1e-5);
    norm.apply(&mut samples).unwrap();
    for j in 0..2 {
        let column: Vec<f64> = samples
            .features()
            .unwrap()
            .iter()
            .skip(j)
            .step_by(2)
            .map(|&v| f64::from(v))
            .collect();
        let mean = column.iter().sum::<f64>() / 20.0;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 20.0;
        assert!(mean.abs() < 1e-5, "feature {j} mean {mean}");
        assert!(
            (var.sqrt() - 1.0).abs() < 1e-5,
            "feature {j} std {}",
            var.sqrt()
        );
    }
}

#[test]
fn normalization_leaves_a_constant_feature_at_zero_without_dividing_by_zero() {
    let mut samples = Samples::new(
        vec![1.0, 10.0, 3.0, 10.0],
        2,
        Targets::Values {
            values: vec![0.0, 1.0],
            outputs: 1,
        },
    )
    .unwrap();
    let norm = Normalization::measure(&samples).unwrap();
    // Feature 0 is 1 and 3: mean 2, population std 1. Feature 1 is constant.
    assert_eq!(norm.mean, [2.0, 10.0]);
    assert_eq!(norm.std, [1.0, 1.0]);
    norm.apply(&mut samples).unwrap();
    assert_eq!(samples.features().unwrap(), [-1.0, 0.0, 1.0, 0.0]);
}

#[test]
fn normalization_of_other_feature_counts_or_bad_stds_is_an_error() {
    let norm = Normalization::measure(&numbered(4)).unwrap();
    let mut two = parity(2).unwrap();
    assert_contains(
        &error_of(norm.apply(&mut two)),
        &["1 means and 1 stds", "2 features"],
    );
    let zero = Normalization {
        mean: vec![0.0],
        std: vec![0.0],
    };
    let mut one = numbered(4);
    assert_contains(&error_of(zero.apply(&mut one)), &["std of feature 0 is 0"]);
    assert_eq!(one, numbered(4), "a failed apply changed the samples");
}

#[test]
fn batch_gives_features_in_the_dtype_and_class_ids_as_u32() {
    let dev = Device::Cpu;
    let samples = parity(2).unwrap();
    let (xs, ys) = samples.batch(&[3, 0, 1], DType::F64, &dev).unwrap();
    assert_eq!((xs.dtype(), xs.dims()), (DType::F64, &[3, 2][..]));
    assert_eq!((ys.dtype(), ys.dims()), (DType::U32, &[3][..]));
    assert_eq!(
        xs.to_vec2::<f64>().unwrap(),
        [[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    );
    assert_eq!(ys.to_vec1::<u32>().unwrap(), [0, 0, 1]);
    let (xs, ys) = samples.tensors(DType::F32, &dev).unwrap();
    assert_eq!((xs.dtype(), xs.dims()), (DType::F32, &[4, 2][..]));
    assert_eq!(ys.to_vec1::<u32>().unwrap(), [0, 1, 1, 0]);
}

#[test]
fn batch_gives_real_targets_as_rows_in_the_dtype() {
    let dev = Device::Cpu;
    let samples = Samples::new(
        vec![1.0, 2.0, 3.0],
        1,
        Targets::Values {
            values: vec![0.5, -0.5, 1.0, -1.0, 2.0, -2.0],
            outputs: 2,
        },
    )
    .unwrap();
    let (xs, ys) = samples.batch(&[2, 0], DType::F32, &dev).unwrap();
    assert_eq!((xs.dtype(), xs.dims()), (DType::F32, &[2, 1][..]));
    assert_eq!((ys.dtype(), ys.dims()), (DType::F32, &[2, 2][..]));
    assert_eq!(ys.to_vec2::<f32>().unwrap(), [[2.0, -2.0], [0.5, -0.5]]);
    let (_, ys) = samples.tensors(DType::F64, &dev).unwrap();
    assert_eq!((ys.dtype(), ys.dims()), (DType::F64, &[3, 2][..]));
}

#[test]
fn batch_index_out_of_range_is_an_error() {
    let msg = error_of(numbered(3).batch(&[0, 3], DType::F32, &Device::Cpu));
    assert_contains(&msg, &["index 3", "3 samples"]);
}

// ---- Source names ---------------------------------------------------------

#[test]
fn source_names_round_trip_through_display() {
    for (text, source) in [
        (
            "csv:data/iris.csv",
            Source::Csv("data/iris.csv".into(), TableOptions::default()),
        ),
        ("mnist:/tmp/mnist", Source::Mnist("/tmp/mnist".into())),
        ("parity:3", Source::Parity(3)),
        ("parity:20", Source::Parity(20)),
        ("spirals:1", Source::Spirals(1)),
        ("spirals:1000000", Source::Spirals(1_000_000)),
    ] {
        let parsed: Source = text.parse().unwrap();
        assert_eq!(parsed, source);
        assert_eq!(parsed.to_string(), text);
    }
}

#[test]
fn bad_source_names_are_errors_saying_what_is_accepted() {
    for (text, expected) in [
        ("parity:0", "bad parity size '0'"),
        ("parity:21", "bad parity size '21'"),
        ("parity:abc", "bad parity size 'abc'"),
        ("parity:-1", "bad parity size '-1'"),
        ("spirals:0", "bad spirals size '0'"),
        ("spirals:1000001", "bad spirals size '1000001'"),
        ("unknown:x", "unknown data source 'unknown:x'"),
        ("spirals", "unknown data source 'spirals'"),
        ("csv:", "needs a path"),
        ("mnist:", "needs a dir"),
    ] {
        let msg = text.parse::<Source>().expect_err(text);
        assert!(msg.contains(expected), "{text}: {msg}");
        assert!(!msg.contains('\n'));
    }
    let msg = "unknown:x".parse::<Source>().unwrap_err();
    assert_contains(&msg, &["csv:PATH", "mnist:DIR", "parity:N", "spirals:N"]);
    let msg = "parity:0".parse::<Source>().unwrap_err();
    assert_contains(&msg, &["from 1 to 20"]);
}

/// A model saved before schemas reads tables as it did: every column but `label` a number in
/// the file's order, the labels its class ids (labels 1 and 2 of a 3-class model stay 1 and 2).
#[test]
fn csv_models_without_a_schema_read_tables_by_position_with_ids_as_numbers() {
    let path = write_csv("csv_numeric", "a,label,b\n1,2,3\n4,1,6\n");
    let options = TableOptions::default();
    let t = csv::read_numeric(&path, TargetKind::Classes, Some(3), &options, true).unwrap();
    assert_eq!(t.samples.features().unwrap(), [1.0, 3.0, 4.0, 6.0]);
    assert_eq!(labels_of(&t.samples), (&[2, 1][..], 3));
    let msg = error_of(csv::read_numeric(
        &path,
        TargetKind::Classes,
        Some(2),
        &options,
        true,
    ));
    assert_contains(&msg, &["line 2, column 'label'", "class '2'", "0, 1"]);
}

/// Numbers written with decimal commas or thousands separators would read as text categories:
/// refused, naming one.
#[test]
fn csv_numbers_with_commas_are_refused_not_read_as_text() {
    let semicolons = TableOptions {
        delimiter: Some(b';'),
        ..TableOptions::default()
    };
    let path = write_csv("csv_decimal_comma", "a;label\n1,5;0\n2,25;1\n");
    let msg = error_of(csv::read(&path, TargetKind::Classes, &semicolons));
    assert_contains(
        &msg,
        &[
            "line 2, column 'a'",
            "'1,5' is a number written with a comma",
        ],
    );
    let msg = csv_error(
        "csv_thousands",
        "a,label\n\"1,234\",0\n\"2,000\",1\n",
        TargetKind::Classes,
    );
    assert_contains(&msg, &["'1,234' is a number written with a comma"]);
}

// ---- Memory budget ----------------------------------------------------------

/// A gzipped IDX pair that is small on disk and declares `count` blank 28×28 images: a
/// decompression bomb in miniature.
fn bomb(test: &str, count: u32) -> PathBuf {
    let dir = temp_dir(test);
    let mut images = GzEncoder::new(Vec::new(), Compression::best());
    images.write_all(&images_file(count, 28, 28, &[])).unwrap();
    let blank = vec![0u8; 784 * 1000];
    for _ in 0..count / 1000 {
        images.write_all(&blank).unwrap();
    }
    write(
        &dir,
        "train-images-idx3-ubyte.gz",
        &images.finish().unwrap(),
    );
    write(
        &dir,
        "train-labels-idx1-ubyte.gz",
        &gzip(&labels_file(&vec![0; count as usize])),
    );
    dir
}

/// A data set declared larger than the budget is never allocated: MNIST is then read from
/// disk (decided from its header, before a byte of the gzipped pixels is inflated into memory),
/// a table from a file of its encoded inputs.
#[test]
fn data_over_the_memory_budget_is_never_allocated() {
    let dir = bomb("memory_bomb", 20_000);
    let gz = std::fs::metadata(dir.join("train-images-idx3-ubyte.gz"))
        .unwrap()
        .len();
    assert!(gz < 100_000, "the file is small on disk: {gz} bytes");
    let source = Source::Mnist(dir);
    let streamed =
        memory::scoped(10 << 20, || source.load(Part::Train, TargetKind::Classes)).unwrap();
    assert!(streamed.is_streamed());
    assert_eq!((streamed.len(), streamed.stored_bytes()), (20_000, 0));
    let in_memory =
        memory::scoped(16 << 20, || source.load(Part::Train, TargetKind::Classes)).unwrap();
    assert_eq!(
        (in_memory.len(), in_memory.stored_bytes()),
        (20_000, 20_000 * 784)
    );
    // A table over the budget is read from a file of its inputs, never allocated either.
    let path = write_csv("memory_csv", &format!("a,label\n{}", "1,0\n".repeat(100)));
    let table = memory::scoped(100, || read(&path, TargetKind::Classes)).unwrap();
    assert!(table.is_streamed() && table.stored_bytes() == 0);
}

#[test]
fn sizes_read_with_their_units() {
    use simple_nn::cli::bytes;
    assert_eq!(bytes("512M"), Ok(512 << 20));
    assert_eq!(bytes("1.5G"), Ok(3 << 29));
    assert_eq!(bytes("2gb"), Ok(2 << 30));
    assert_eq!(bytes("1000"), Ok(1000));
    for bad in ["0", "-1G", "abc", "5Q", "nan", ""] {
        let err = bytes(bad).unwrap_err();
        assert!(err.contains("is not a size"), "{bad}: {err}");
    }
    assert_eq!(memory::size(3 << 29), "1.5 GB");
}

// ---- Streaming ----------------------------------------------------------------

use simple_nn::rng::SplitMix64;

#[test]
fn stream_order_visits_every_sample_once_a_shard_window_at_a_time() {
    let (len, shard, window) = (1001, 7, 4);
    let order = simple_nn::data::samples::stream_order(len, shard, window, &mut SplitMix64::new(3));
    let mut seen = order.clone();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..len).collect::<Vec<_>>(),
        "each index exactly once"
    );
    assert_eq!(
        order,
        simple_nn::data::samples::stream_order(len, shard, window, &mut SplitMix64::new(3))
    );
    assert_ne!(
        order,
        simple_nn::data::samples::stream_order(len, shard, window, &mut SplitMix64::new(4))
    );
    // Each run of window·shard indices comes from `window` whole shards.
    for part in order.chunks(window * shard).take(len / (window * shard)) {
        let shards: std::collections::BTreeSet<usize> = part.iter().map(|i| i / shard).collect();
        assert_eq!(shards.len(), window, "{part:?}");
    }
    assert_ne!(&order[..20], &(0..20).collect::<Vec<_>>()[..], "shuffled");
}

/// Pixel `j` of image `i` of [`varied_mnist`]: its first two pixels spell `i` (low byte, high
/// byte), the rest vary with both.
fn varied_pixel(i: usize, j: usize) -> u8 {
    match j {
        0 => (i % 256) as u8,
        1 => (i / 256) as u8,
        _ => ((i * 31 + j * 7 + (i * j) % 13) % 256) as u8,
    }
}

/// The label of image `i` of [`varied_mnist`].
fn varied_label(i: usize) -> u8 {
    ((i * 7 + i / 10) % 10) as u8
}

/// A gzipped IDX pair of `count` 28×28 training images, every image and label its own
/// ([`varied_pixel`], [`varied_label`]), so that a sample read from the wrong row shows.
fn varied_mnist(test: &str, count: usize) -> PathBuf {
    let dir = temp_dir(test);
    let pixels: Vec<u8> = (0..count)
        .flat_map(|i| (0..784).map(move |j| varied_pixel(i, j)))
        .collect();
    let labels: Vec<u8> = (0..count).map(varied_label).collect();
    write(
        &dir,
        "train-images-idx3-ubyte.gz",
        &gzip(&images_file(count as u32, 28, 28, &pixels)),
    );
    write(
        &dir,
        "train-labels-idx1-ubyte.gz",
        &gzip(&labels_file(&labels)),
    );
    dir
}

/// MNIST over the memory budget is read from disk: a gzipped set is decompressed once beside
/// itself; its samples are those loaded in memory, batch for batch, and those the file holds
/// (every image and label different, pixel/255); an epoch visits each once; the split keeps
/// each part in file order.
#[test]
fn mnist_over_the_budget_streams_the_same_samples_from_disk() {
    let dir = varied_mnist("stream_mnist", 3000);
    let source = Source::Mnist(dir.clone());
    let in_memory = source.load(Part::Train, TargetKind::Classes).unwrap();
    assert!(!in_memory.is_streamed());
    let loaded = memory::scoped(1 << 20, || {
        source.read(
            Part::Train,
            TargetKind::Classes,
            simple_nn::data::Reading::New,
        )
    })
    .unwrap();
    let streamed = loaded.samples;
    assert!(streamed.is_streamed() && streamed.stored_bytes() == 0);
    assert_contains(&loaded.notes.join("\n"), &["read from disk", "1.0 MB"]);
    let cache = dir.join("train-images-idx3-ubyte");
    assert_eq!(std::fs::metadata(&cache).unwrap().len(), 16 + 3000 * 784);
    let batch = |s: &Samples, indices: &[usize]| {
        let (xs, ys) = s.batch(indices, DType::F32, &Device::Cpu).unwrap();
        (
            xs.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            ys.to_vec1::<u32>().unwrap(),
        )
    };
    let indices = [2999, 0, 1234, 7, 2998];
    let expected = (
        indices
            .iter()
            .flat_map(|&i| (0..784).map(move |j| f32::from(varied_pixel(i, j)) / 255.0))
            .collect::<Vec<f32>>(),
        indices
            .iter()
            .map(|&i| u32::from(varied_label(i)))
            .collect::<Vec<u32>>(),
    );
    assert!(batch(&streamed, &indices) == expected, "streamed");
    assert!(batch(&in_memory, &indices) == expected, "in memory");
    let batches = streamed.epoch_batches(64, 5, 0).unwrap();
    let mut seen: Vec<usize> = batches.concat();
    seen.sort_unstable();
    assert_eq!(seen, (0..3000).collect::<Vec<_>>());
    // The rows each part holds, read from their first two pixels.
    let rows_of = |s: &Samples| -> Vec<usize> {
        let all: Vec<usize> = (0..s.len()).collect();
        let (xs, _) = batch(s, &all);
        xs.chunks(784)
            .map(|p| (p[0] * 255.0).round() as usize + 256 * (p[1] * 255.0).round() as usize)
            .collect()
    };
    let (train, valid) = streamed.split(0.1, 0).unwrap();
    assert_eq!((train.len(), valid.len()), (2700, 300));
    assert!(train.shares_values_with(&streamed));
    let (train_rows, valid_rows) = (rows_of(&train), rows_of(&valid));
    assert!(
        train_rows.is_sorted() && valid_rows.is_sorted(),
        "file order"
    );
    let mut both = [train_rows, valid_rows].concat();
    both.sort_unstable();
    assert_eq!(both, (0..3000).collect::<Vec<_>>(), "each row in one part");
    // The next load finds the decompressed copy first.
    let again = memory::scoped(1 << 20, || source.load(Part::Train, TargetKind::Classes)).unwrap();
    assert!(batch(&again, &indices) == expected, "again");
}

/// Labels that look like numbers among text labels keep their own names (`01` is not `1`);
/// `-0` and `0` are one class, named `0`.
#[test]
fn csv_class_names_read_back_as_they_were_fitted() {
    let options = TableOptions::default();
    let t = table(
        "csv_mixed_labels",
        "x,label\n1,01\n2,02\n3,x\n4,1.5\n",
        TargetKind::Classes,
        &options,
    );
    assert_eq!(
        t.schema.classes,
        Some(["01", "02", "1.5", "x"].map(String::from).to_vec())
    );
    assert_eq!(labels_of(&t.samples), (&[0, 1, 3, 2][..], 4));
    let t = table(
        "csv_signed_zero",
        "x,label\n1,-0\n2,0\n3,1\n",
        TargetKind::Classes,
        &options,
    );
    assert_eq!(
        t.schema.classes,
        Some(["0", "1"].map(String::from).to_vec())
    );
    assert_eq!(labels_of(&t.samples), (&[0, 0, 1][..], 2));
}

/// One-hot columns can make a table far larger in memory than on disk: measured before the
/// features are allocated, and over the budget written to a file beside the table instead (the
/// same samples, read as batches need them; the file goes with them).
#[test]
fn csv_inputs_over_the_budget_are_read_from_a_file_beside_the_table() {
    let mut text = "colour,x,label\n".to_string();
    for i in 0..500 {
        text += &format!("c{i},{i}.5,{}\n", i % 3);
    }
    let path = write_csv("csv_wide", &text);
    let dir = path.parent().unwrap().to_path_buf();
    let options = TableOptions::default();
    let in_memory = csv::read(&path, TargetKind::Classes, &options).unwrap();
    assert!(!in_memory.samples.is_streamed());
    // 500 rows × 501 inputs × 4 bytes ≈ 1 MB, over a 100 KB budget.
    let streamed =
        memory::scoped(100_000, || csv::read(&path, TargetKind::Classes, &options)).unwrap();
    assert!(streamed.samples.is_streamed() && streamed.samples.stored_bytes() == 0);
    assert_contains(&streamed.notes.join("\n"), &["written to a file beside it"]);
    assert_eq!(streamed.samples, in_memory.samples);
    assert_eq!(streamed.schema, in_memory.schema);
    let hidden = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".simple-nn-inputs-")
            })
            .count()
    };
    assert_eq!(hidden(&dir), 1, "the inputs' file lies beside the table");
    let batches = streamed.samples.epoch_batches(32, 1, 0).unwrap();
    let mut seen = batches.concat();
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<_>>());
    drop(streamed);
    assert_eq!(hidden(&dir), 0, "and goes with the samples");
}

/// Header sizes whose product overflows are refused as corrupt, not multiplied.
#[test]
fn mnist_header_sizes_that_overflow_are_refused() {
    let dir = temp_dir("mnist_overflow");
    let mut header = vec![0, 0, 8, 3];
    for n in [2u32, u32::MAX, u32::MAX] {
        header.extend_from_slice(&n.to_be_bytes());
    }
    write(&dir, "train-images-idx3-ubyte", &header);
    write(&dir, "train-labels-idx1-ubyte", &labels_file(&[0, 1]));
    let msg = error_of(Source::Mnist(dir).load(Part::Train, TargetKind::Classes));
    assert_contains(&msg, &["overflow", "corrupt"]);
}
