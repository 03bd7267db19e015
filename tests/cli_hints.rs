//! What a new user meets: the hints of the `nn` example name the real problem and a fix that
//! works as printed, a run says what it wrote and what it will not keep.

mod common;

use std::path::Path;

use common::nn::{ok, refused};
use common::scratch;

/// A table of `rows` rows under `header`, each value drawn from the row number.
fn table(path: &Path, header: &[&str], rows: usize) {
    let mut text = header.join(",") + "\n";
    for i in 0..rows {
        let row: Vec<String> = (0..header.len())
            .map(|c| ((i * (c + 3)) % 7).to_string())
            .collect();
        text += &(row.join(",") + "\n");
    }
    std::fs::write(path, text).unwrap();
}

/// `eval` of a model on a table of other data says that the model was trained on other data,
/// not to pass --target (which eval does not take); a folder or a missing file given as
/// --model gets a fix that works.
#[test]
fn eval_names_a_model_from_other_data_a_folder_and_a_missing_file() {
    let dir = scratch("hints-eval");
    let (mine, theirs) = (dir.join("mine.csv"), dir.join("theirs.csv"));
    table(&mine, &["a", "b", "kind"], 20);
    table(&theirs, &["x", "y", "label"], 20);
    let model = dir.join("m.safetensors");
    let m = model.to_str().unwrap();
    let data = format!("csv:{}", mine.display());
    ok(&[
        "train", "--data", &data, "--target", "kind", "--epochs", "1", "--save", m,
    ]);
    let other = format!("csv:{}", theirs.display());
    let message = refused(&["eval", "--model", m, "--data", &other]);
    assert!(
        message.contains("no column named 'kind'")
            && message.contains("the model was trained to predict it")
            && !message.contains("--target"),
        "{message}"
    );
    let folder = dir.to_str().unwrap();
    let message = refused(&["eval", "--model", folder, "--data", &data]);
    assert!(
        message.contains("is a folder") && !message.contains("first"),
        "{message}"
    );
    let missing = dir.join("missing.safetensors");
    let message = refused(&[
        "eval",
        "--model",
        missing.to_str().unwrap(),
        "--data",
        &data,
    ]);
    assert!(
        message.contains("there is no model")
            && message.contains("cargo run --release --example nn -- train --data"),
        "{message}"
    );
}

/// A misspelt --target on a table of 31 columns names the closest column, in a line a fraction
/// of the 674 characters that listed every column before.
#[test]
fn a_misspelt_target_names_the_closest_columns_in_a_short_line() {
    let dir = scratch("hints-target");
    let cancer = dir.join("cancer.csv");
    let mut header = vec!["id".to_string(), "diagnosis".to_string()];
    for what in ["radius", "texture", "perimeter", "area", "smoothness"] {
        for kind in ["mean", "se", "worst"] {
            header.push(format!("{what}_{kind}"));
        }
    }
    while header.len() < 31 {
        header.push(format!("extra_{}", header.len()));
    }
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&cancer, &names, 10);
    let data = format!("csv:{}", cancer.display());
    let message = refused(&["train", "--data", &data, "--target", "diagnosys"]);
    assert!(
        message.contains("no column named 'diagnosys' (closest: 'diagnosis')")
            && message.contains("(31 in all)")
            && message.contains("--target NAME"),
        "{message}"
    );
    assert!(
        message.len() < 400,
        "{} characters: {message}",
        message.len()
    );
    // The nearness itself: edits between lower-cased names, at most a third of the length.
    use simple_nn::error::closest;
    assert_eq!(closest("diagnosys", &header), ["diagnosis"]);
    assert_eq!(closest("Radius_Mean", &header), ["radius_mean"]);
    assert_eq!(closest("area_sd", &header), ["area_se"]);
    assert_eq!(closest("area_mea", &header), ["area_mean"]);
    assert!(closest("price", &header).is_empty());
}

/// A --save into a folder that does not exist names that folder, not the hidden temporary file
/// the write would have gone through; so does any atomic write there.
#[test]
fn a_save_into_a_missing_folder_names_the_folder() {
    let dir = scratch("hints-save");
    let missing = dir.join("nope");
    let save = missing.join("m.safetensors");
    let message = refused(&[
        "train",
        "--data",
        "spirals:10",
        "--save",
        save.to_str().unwrap(),
    ]);
    let named = format!("the folder '{}' does not exist", missing.display());
    assert!(
        message.contains(&named) && !message.contains(".tmp"),
        "{message}"
    );
    let err = simple_nn::io::atomic::write(&save, b"x").unwrap_err();
    let message = simple_nn::error::message(&err);
    assert!(
        message.contains(&named) && !message.contains(".tmp"),
        "{message}"
    );
}

/// `predict --output` says what it wrote and how many rows; a run that saves nothing says so
/// before its first epoch, and a resumed one names the file it leaves as it was.
#[test]
fn runs_say_what_they_wrote_and_what_they_will_not_keep() {
    let dir = scratch("hints-said");
    let model = dir.join("m.safetensors");
    let m = model.to_str().unwrap();
    let text = ok(&[
        "train",
        "--data",
        "spirals:10",
        "--epochs",
        "1",
        "--save",
        m,
    ]);
    assert!(!text.contains("keeps nothing"), "{text}");
    let output = dir.join("p.csv");
    let o = output.to_str().unwrap();
    let text = ok(&[
        "predict",
        "--model",
        m,
        "--data",
        "spirals:10",
        "--output",
        o,
    ]);
    assert_eq!(text.trim_end(), format!("wrote 20 predictions to {o}"));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap().lines().count(),
        21
    );
    let text = ok(&["train", "--data", "spirals:10", "--epochs", "1"]);
    let first = |text: &str| -> String {
        let lines = text.lines().take_while(|l| !l.starts_with("epoch "));
        lines.collect::<Vec<_>>().join("\n")
    };
    assert!(
        first(&text).contains("no --save: this run keeps nothing; add --save PATH.safetensors"),
        "{text}"
    );
    let before = std::fs::read(&model).unwrap();
    let text = ok(&[
        "train",
        "--data",
        "spirals:10",
        "--resume",
        m,
        "--epochs",
        "2",
    ]);
    let said = format!("{m} stays as it was (1 epochs done); add --save {m} to go on in it");
    assert!(first(&text).contains(&said), "{text}");
    assert!(std::fs::read(&model).unwrap() == before);
}

/// `train --help` says what --resume does now: the optimizer's state goes on (it no longer
/// starts afresh), which flags change the run, and that it saves only with --save.
#[test]
fn train_help_says_what_resume_does() {
    let help = ok(&["train", "--help"]);
    assert!(!help.contains("afresh"), "{help}");
    for part in ["optimizer state", "saving only with --save", "refused"] {
        assert!(help.contains(part), "{part}: {help}");
    }
}
