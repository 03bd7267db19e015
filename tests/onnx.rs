//! `nn export --format onnx` writes a graph that an independent evaluator runs to the model's own
//! numbers, and refuses what it cannot export, in one line.
//!
//! The evaluator is candle-onnx's `simple_eval`, candle's reader of ONNX files: it reads the
//! protobuf and runs each operator from ONNX's definition, sharing nothing with the exporter but
//! the schema. The expected numbers are the model's own: the checkpoint loaded by
//! `io::load_model`, its `forward_t` in evaluation, and `Loss::predictions` (what `nn predict`
//! writes), on inputs standardised here by the model's saved statistics. float32 throughout,
//! equal within 1e-5.
//!
//! onnxruntime is not run here (CI has no onnxruntime); the README shows how to run it. Built with
//! the `onnx` feature (CI runs it so); without it, `--format onnx` is refused in one line.
#![cfg(feature = "onnx")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_onnx::onnx::{tensor_proto::DataType, tensor_shape_proto::dimension, type_proto};
use common::nn::{ok, refused};
use simple_nn::candle::{DType, Device, ModuleT, Tensor};

/// A checkpoint of `layers` trained 1 epoch on `data` with `flags` added.
fn train(dir: &Path, data: &str, layers: &str, flags: &[&str]) -> PathBuf {
    let model = dir.join("m.safetensors");
    let mut args = vec![
        "train",
        "--data",
        data,
        "--layers",
        layers,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--valid-fraction",
        "0",
        "--save",
        model.to_str().unwrap(),
    ];
    args.extend(flags);
    ok(&args);
    model
}

/// `nn export --format onnx` of `model` to `m.onnx` beside it, and what it printed.
fn export(model: &Path) -> (PathBuf, String) {
    let onnx = model.with_file_name("m.onnx");
    let text = ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--output",
        onnx.to_str().unwrap(),
        "--format",
        "onnx",
    ]);
    (onnx, text)
}

/// The model's own output for `xs` (rows of raw features): standardised by its saved statistics,
/// its forward in evaluation, and the predictions `nn predict` writes.
fn model_output(model: &Path, xs: &Tensor) -> Tensor {
    let (spec, network) = simple_nn::io::load_model(model, DType::F32, &Device::Cpu).unwrap();
    let xs = match &spec.normalization {
        Some(norm) => {
            let n = norm.mean.len();
            let mean = Tensor::from_slice(&norm.mean, (1, n), &Device::Cpu).unwrap();
            let std = Tensor::from_slice(&norm.std, (1, n), &Device::Cpu).unwrap();
            xs.broadcast_sub(&mean)
                .unwrap()
                .broadcast_div(&std)
                .unwrap()
        }
        None => xs.clone(),
    };
    let output = network.as_net().unwrap().forward_t(&xs, false).unwrap();
    spec.loss.predictions(&output).unwrap()
}

/// The graph's output `name` for `xs`, by candle-onnx's evaluator.
fn onnx_output(onnx: &Path, xs: &Tensor, name: &str) -> Tensor {
    let proto = candle_onnx::read_file(onnx).unwrap();
    let inputs = HashMap::from([("input".to_string(), xs.clone())]);
    let mut outputs = candle_onnx::simple_eval(&proto, inputs).unwrap();
    outputs.remove(name).unwrap()
}

/// Exports `model`, and checks the graph against the model on batches of 1 and 7 rows of
/// `features` values in ±`scale`: same shape, float32, within 1e-5.
fn check_equal(model: &Path, features: usize, scale: f64, output: &str) -> PathBuf {
    let (onnx, text) = export(model);
    assert!(text.contains("wrote an ONNX graph (opset 17)"), "{text}");
    for (rows, seed) in [(1, 3), (7, 4)] {
        let xs = common::random_in(&[rows, features], seed, scale, DType::F32);
        let expected = model_output(model, &xs);
        let got = onnx_output(&onnx, &xs, output);
        assert_eq!(got.dtype(), DType::F32);
        assert_eq!(got.dims(), expected.dims());
        let diff = common::max_abs_diff(&got, &expected).unwrap();
        assert!(diff <= 1e-5, "{rows} rows: differs by {diff}");
    }
    onnx
}

#[test]
fn an_mlp_with_every_activation_gives_the_models_probabilities() {
    let dir = common::scratch("onnx-mlp");
    let layers = "dense:8,relu,dense:8,tanh,dense:8,sigmoid,dense:8,gelu";
    let model = train(&dir, "spirals:40", layers, &["--normalize"]);
    let onnx = check_equal(&model, 2, 3.0, "probabilities");

    // What the file says of itself: opset 17, `input` [batch, 2], `probabilities` [batch, 2],
    // float32 initializers, the model's description and its standardisation in the metadata.
    let proto = candle_onnx::read_file(&onnx).unwrap();
    assert_eq!(proto.opset_import[0].version, 17);
    let graph = proto.graph.as_ref().unwrap();
    for (value, name, n) in [
        (&graph.input[0], "input", 2),
        (&graph.output[0], "probabilities", 2),
    ] {
        assert_eq!(value.name, name);
        let Some(type_proto::Value::TensorType(t)) = &value.r#type.as_ref().unwrap().value else {
            panic!("{name} is not a tensor")
        };
        assert_eq!(t.elem_type, DataType::Float as i32);
        let dims: Vec<_> = t
            .shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| d.value.clone())
            .collect();
        assert_eq!(
            dims,
            [
                Some(dimension::Value::DimParam("batch".into())),
                Some(dimension::Value::DimValue(n))
            ]
        );
    }
    assert!(graph
        .initializer
        .iter()
        .all(|t| t.data_type == DataType::Float as i32));
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert!(
        ops.contains(&"Erf") && ops.ends_with(&["Gemm", "Softmax"]),
        "{ops:?}"
    );
    let meta = &proto.metadata_props;
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].key, "simple-nn-weights");
    let description: serde_json::Value = serde_json::from_str(&meta[0].value).unwrap();
    assert_eq!(description["layers"], layers);
    assert_eq!(description["head"], "softmax");
    assert_eq!(
        description["normalization"]["mean"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_bce_mlp_without_biases_gives_the_models_probabilities() {
    let dir = common::scratch("onnx-bce");
    let flags = ["--loss", "bce", "--no-bias"];
    let model = train(&dir, "spirals:40", "dense:8,relu", &flags);
    check_equal(&model, 2, 3.0, "probabilities");
}

#[test]
fn a_conv_net_with_batch_norm_pooling_and_dropout_gives_the_models_probabilities() {
    let dir = common::scratch("onnx-conv");
    let data = dir.join("quadrants");
    std::fs::create_dir_all(&data).unwrap();
    common::write_quadrants(&data, 40, 8, 8);
    // 1×8×8 → conv (padding 1) 4×8×8 → 4×4×4 → conv 4×2×2 → 4×1×1 → 4 → 8 → 10 classes; then
    // 1×8×8 → conv (stride 2, padding 1) 4×4×4 → 4×2×2 → 8, a dense layer flattening first.
    let nets = [
        "conv:4:3:1:1,batchnorm,relu,maxpool:2,conv:4:3,tanh,avgpool:2,flatten,dropout:0.5,dense:8,relu",
        "conv:4:3:2:1,gelu,maxpool:2,dropout:0.2,dense:8,batchnorm,sigmoid",
    ];
    for (i, layers) in nets.iter().enumerate() {
        let dir = dir.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let data = format!("mnist:{}", data.display());
        let model = train(&dir, &data, layers, &["--normalize"]);
        check_equal(&model, 64, 1.0, "probabilities");
    }
}

#[test]
fn what_cannot_be_exported_is_refused_in_one_line_before_any_work() {
    let dir = common::scratch("onnx-refused");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (text, _) = common::text::write_text(&dir, "t.txt", 400);
    let gpt = p("gpt.safetensors");
    ok(&[
        "train",
        "--data",
        &text,
        "--layers",
        "gpt:1:1:8",
        "--block-size",
        "8",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--save",
        &gpt,
    ]);
    let export = |model: &str, output: &str, format: &str| {
        refused(&[
            "export", "--model", model, "--output", output, "--format", format,
        ])
    };
    let err = export(&gpt, &p("g.onnx"), "onnx");
    assert!(
        err.contains("causal attention") && err.contains("--format safetensors"),
        "{err}"
    );
    let err = export(&gpt, &p("g.onnx"), "tflite");
    assert!(
        err.contains("unknown format 'tflite'") && err.contains("onnx"),
        "{err}"
    );
    let err = export(&gpt, &p("g.safetensors"), "onnx");
    assert!(err.contains(".onnx"), "{err}");
    // The output is checked first: a bad one is named even when the model is missing too.
    let err = export(&p("absent.safetensors"), &p("missing/m.onnx"), "onnx");
    assert!(err.contains("missing") && !err.contains("absent"), "{err}");
    assert!(!dir.join("g.onnx").exists() && !dir.join("g.safetensors").exists());
}
