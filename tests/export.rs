//! `nn export` writes a checkpoint's weights alone, as PyTorch's `load_state_dict` takes them,
//! and refuses what it cannot export, in one line.
//!
//! That PyTorch loads such a file strictly and gives `nn predict`'s probabilities is checked by
//! hand with `examples/torch_load_export.py` (the README says how); CI has no PyTorch.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::nn::{ok, refused};
use simple_nn::candle::{DType, Device, Tensor};

/// The hidden layers of the model the tests export: a conv net with batch norm.
const LAYERS: &str = "conv:4:3,batchnorm,relu,maxpool:2,flatten,dense:8,relu";

/// A checkpoint of a small conv net with batch norm, trained 2 epochs on 40 images of 8×8 in
/// batches of 16 (3 batches an epoch, so 6 optimizer steps), with AdamW's state beside it.
fn checkpoint(dir: &Path) -> PathBuf {
    let data = dir.join("quadrants");
    std::fs::create_dir_all(&data).unwrap();
    common::write_quadrants(&data, 40, 8, 8);
    let model = dir.join("m.safetensors");
    ok(&[
        "train",
        "--data",
        &format!("mnist:{}", data.display()),
        "--layers",
        LAYERS,
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--valid-fraction",
        "0",
        "--save",
        model.to_str().unwrap(),
    ]);
    model
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    simple_nn::candle::safetensors::load(path, &Device::Cpu).unwrap()
}

fn metadata(path: &Path) -> HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().clone().unwrap_or_default()
}

fn bits(t: &Tensor) -> Vec<u32> {
    let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn export_writes_the_weights_alone_under_the_models_names() {
    let dir = common::scratch("export-weights");
    let model = checkpoint(&dir);
    let weights = dir.join("w.safetensors");
    let text = ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--output",
        weights.to_str().unwrap(),
    ]);
    assert!(text.contains("wrote 11 tensors"), "{text}");

    // By hand: 1×8×8 → conv 4 of 3×3 → 4×6×6 → batch norm of 4 → pooled 4×3×3 = 36 → dense 8
    // → the output layer of MNIST's 10 classes.
    let expected: Vec<(&str, Vec<usize>)> = vec![
        ("layers.0.bias", vec![4]),
        ("layers.0.weight", vec![4, 1, 3, 3]),
        ("layers.1.bias", vec![4]),
        ("layers.1.num_batches_tracked", vec![]),
        ("layers.1.running_mean", vec![4]),
        ("layers.1.running_var", vec![4]),
        ("layers.1.weight", vec![4]),
        ("layers.2.bias", vec![8]),
        ("layers.2.weight", vec![8, 36]),
        ("layers.3.bias", vec![10]),
        ("layers.3.weight", vec![10, 8]),
    ];
    let exported = tensors(&weights);
    let mut names: Vec<&str> = exported.keys().map(String::as_str).collect();
    names.sort_unstable();
    let expected_names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected_names);
    for (name, shape) in &expected {
        assert_eq!(exported[*name].dims(), shape.as_slice(), "{name}");
    }
    // PyTorch's BatchNorm buffer: int64, the batches trained (2 epochs of ⌈40/16⌉ = 3).
    let tracked = &exported["layers.1.num_batches_tracked"];
    assert_eq!(tracked.dtype(), DType::I64);
    assert_eq!(tracked.to_scalar::<i64>().unwrap(), 6);

    // The values are the checkpoint's, bit for bit; the checkpoint's optimizer state is left out.
    let saved = tensors(&model);
    let optimizer = saved.keys().filter(|k| k.starts_with("optimizer.")).count();
    assert_eq!(
        optimizer, 20,
        "AdamW's two moments of each of the 10 tensors"
    );
    for (name, t) in &exported {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        assert_eq!(t.dtype(), DType::F32, "{name}");
        assert_eq!(bits(t), bits(&saved[name]), "{name}");
    }
    // The running statistics moved in training: they are not the initial 0 and 1.
    let mean = bits(&exported["layers.1.running_mean"]);
    assert!(mean.iter().any(|&b| b != 0), "{mean:?}");

    // A description to rebuild the network from, and no checkpoint description.
    let meta = metadata(&weights);
    assert_eq!(meta.keys().collect::<Vec<_>>(), ["simple-nn-weights"]);
    let description: serde_json::Value = serde_json::from_str(&meta["simple-nn-weights"]).unwrap();
    assert_eq!(description["layers"], LAYERS);
    assert_eq!(description["input_shape"], serde_json::json!([1, 8, 8]));
    assert_eq!(description["outputs"], 10);
    assert_eq!(description["head"], "softmax");
    assert_eq!(description["loss"], "cross-entropy");
    assert!(description["normalization"].is_null());
}

#[test]
fn the_library_export_says_what_it_wrote_and_left_out() {
    let dir = common::scratch("export-library");
    let model = checkpoint(&dir);
    let weights = dir.join("w.safetensors");
    let exported = simple_nn::io::export(&model, &weights).unwrap();
    // conv 4·9 + 4, batch norm 4·4, dense 8·36 + 8, output 10·8 + 10.
    let values = (4 * 9 + 4) + 4 * 4 + (8 * 36 + 8) + (10 * 8 + 10);
    assert_eq!(exported.parameters, values);
    assert_eq!((exported.tensors, exported.left_out), (11, 20));
    assert_eq!(exported.dtype, DType::F32);
}

#[test]
fn bad_output_paths_are_refused_before_any_work_and_nothing_is_lost() {
    let dir = common::scratch("export-outputs");
    let model = checkpoint(&dir);
    let other = dir.join("other.safetensors");
    std::fs::copy(&model, &other).unwrap();
    std::fs::create_dir(dir.join("folder.safetensors")).unwrap();
    let before = std::fs::read(&model).unwrap();
    let m = model.to_str().unwrap();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    for (output, says) in [
        (p("missing/w.safetensors"), "existing folder"),
        (p("w.pt"), ".safetensors"),
        (p("folder.safetensors"), ".safetensors"),
        (m.to_string(), "is a checkpoint"),
        (p("other.safetensors"), "is a checkpoint"),
    ] {
        let err = refused(&["export", "--model", m, "--output", &output]);
        assert!(err.contains(says), "{output}: {err}");
    }
    assert_eq!(std::fs::read(&model).unwrap(), before);
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert!(!dir.join("w.pt").exists() && !dir.join("missing").exists());
    // The output is checked first: a bad one is named even when the model is missing too.
    let err = refused(&[
        "export",
        "--model",
        &p("absent.safetensors"),
        "--output",
        &p("w.pt"),
    ]);
    assert!(err.contains("w.pt") && !err.contains("absent"), "{err}");
}

#[test]
fn a_file_that_is_not_a_model_is_refused_in_one_line() {
    let dir = common::scratch("export-inputs");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(dir.join("notes.safetensors"), "not a model").unwrap();
    let xor = Command::new(common::example("xor"))
        .args([
            "--iters",
            "10",
            "--print-every",
            "0",
            "--save",
            &p("xor.safetensors"),
        ])
        .output()
        .unwrap();
    assert!(
        xor.status.success(),
        "{}",
        String::from_utf8_lossy(&xor.stderr)
    );
    for (model, says) in [
        ("notes.safetensors", "not a safetensors file"),
        ("xor.safetensors", "no model description"),
        ("absent.safetensors", "there is no model"),
    ] {
        let err = refused(&[
            "export",
            "--model",
            &p(model),
            "--output",
            &p("w.safetensors"),
        ]);
        assert!(err.contains(says), "{model}: {err}");
    }
    assert!(!dir.join("w.safetensors").exists());
}

#[test]
fn exported_weights_are_not_taken_for_a_checkpoint() {
    let dir = common::scratch("export-not-resumable");
    let model = checkpoint(&dir);
    let weights = dir.join("w.safetensors");
    simple_nn::io::export(&model, &weights).unwrap();
    let (w, data) = (
        weights.to_str().unwrap(),
        format!("mnist:{}", dir.join("quadrants").display()),
    );
    let resumed = refused(&["train", "--resume", w, "--data", &data, "--epochs", "3"]);
    let predicted = refused(&["predict", "--model", w, "--data", &data]);
    let again_to = dir.join("w2.safetensors");
    let again = refused(&[
        "export",
        "--model",
        w,
        "--output",
        again_to.to_str().unwrap(),
    ]);
    for err in [resumed, predicted, again] {
        assert!(err.contains("exported by `nn export`"), "{err}");
        assert!(
            err.contains("the checkpoint they were exported from"),
            "{err}"
        );
    }
}

/// Built without the `onnx` feature, `nn export --format onnx` is refused in one line that
/// names the feature and what its build needs, before anything is read or written.
#[cfg(not(feature = "onnx"))]
#[test]
fn onnx_export_without_the_feature_is_refused_naming_it() {
    let dir = common::scratch("onnx-without-feature");
    let output = dir.join("m.onnx");
    let text = common::nn::refused(&[
        "export",
        "--model",
        dir.join("missing.safetensors").to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--format",
        "onnx",
    ]);
    assert!(
        text.contains("--features onnx") && text.contains("protoc"),
        "{text}"
    );
    assert!(!output.exists());
}
