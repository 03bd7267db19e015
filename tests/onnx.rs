//! `nn export --format onnx` writes a graph that independent evaluators run to the model's own
//! numbers, and refuses what it cannot export, in one line.
//!
//! The evaluators are candle-onnx's `simple_eval`, candle's reader of ONNX files, and tract,
//! Sonos's ONNX runtime in Rust: each reads the protobuf and runs each operator from ONNX's
//! definition, sharing nothing with the exporter but the schema. Every network's graph runs on
//! both; the GPT's on tract alone (candle-onnx has no `LayerNormalization`). The expected numbers
//! are the model's own: the checkpoint loaded by `io::load_model`, its `forward_t` in evaluation,
//! and for networks `Loss::predictions` (what `nn predict` writes), on inputs standardised here
//! by the model's saved statistics. float32 throughout, equal within 1e-5.
//!
//! onnxruntime is not run here (CI has no onnxruntime): `examples/onnxruntime_check.py` runs it,
//! and the README shows how. Built with the `onnx-check` feature (the `onnx` feature and tract;
//! CI runs it so); without `onnx`, `--format onnx` is refused in one line (tests/export.rs).
#![cfg(feature = "onnx-check")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_onnx::onnx::{
    tensor_proto::DataType, tensor_shape_proto::dimension, type_proto, ValueInfoProto,
};
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
fn candle_onnx_output(onnx: &Path, xs: &Tensor, name: &str) -> Tensor {
    let proto = candle_onnx::read_file(onnx).unwrap();
    let inputs = HashMap::from([("input".to_string(), xs.clone())]);
    let mut outputs = candle_onnx::simple_eval(&proto, inputs).unwrap();
    outputs.remove(name).unwrap()
}

/// The graph's one output for `input` by tract, its symbolic dimensions fixed to the input's
/// shape, the graph optimised as tract runs it for its users.
fn tract_output(onnx: &Path, input: tract_onnx::prelude::Tensor) -> Tensor {
    use tract_onnx::prelude::{tvec, Framework, InferenceFact, InferenceModelExt, IntoRunnable};
    let fact = InferenceFact::dt_shape(input.datum_type(), input.shape());
    let plan = (tract_onnx::onnx().model_for_path(onnx).unwrap())
        .with_input_fact(0, fact)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let outputs = plan.run(tvec!(input.into())).unwrap();
    assert_eq!(outputs.len(), 1);
    let view = outputs[0].to_plain_array_view::<f32>().unwrap();
    let values: Vec<f32> = view.iter().copied().collect();
    Tensor::from_vec(values, view.shape(), &Device::Cpu).unwrap()
}

/// `xs` (float32) as tract's tensor.
fn to_tract(xs: &Tensor) -> tract_onnx::prelude::Tensor {
    let values = xs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    tract_onnx::prelude::Tensor::from_shape(xs.dims(), &values).unwrap()
}

/// Checks that `got` is `expected` within 1e-5: same shape, float32.
fn assert_close(got: &Tensor, expected: &Tensor, what: &str) {
    assert_eq!(got.dtype(), DType::F32, "{what}");
    assert_eq!(got.dims(), expected.dims(), "{what}");
    let diff = common::max_abs_diff(got, expected).unwrap();
    assert!(diff <= 1e-5, "{what}: differs by {diff}");
}

/// The element type and dimensions of a graph's input or output.
fn port(value: &ValueInfoProto) -> (DataType, Vec<Option<dimension::Value>>) {
    let Some(type_proto::Value::TensorType(t)) = &value.r#type.as_ref().unwrap().value else {
        panic!("{} is not a tensor", value.name)
    };
    let dims = t.shape.as_ref().unwrap().dim.iter();
    let dims = dims.map(|d| d.value.clone()).collect();
    (DataType::try_from(t.elem_type).unwrap(), dims)
}

/// With `SIMPLE_NN_ONNX_CASES=DIR` set, keeps a case for `examples/onnxruntime_check.py`: the
/// graph as `DIR/{name}.onnx`, its input and the model's output as `{name}.input.npy` and
/// `{name}.expected.npy`.
fn keep_case(name: &str, onnx: &Path, input: &Tensor, expected: &Tensor) {
    let Some(dir) = std::env::var_os("SIMPLE_NN_ONNX_CASES") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(onnx, dir.join(format!("{name}.onnx"))).unwrap();
    input
        .write_npy(dir.join(format!("{name}.input.npy")))
        .unwrap();
    expected
        .write_npy(dir.join(format!("{name}.expected.npy")))
        .unwrap();
}

/// Exports `model`, and checks the graph on both evaluators against the model on batches of 1
/// and 7 rows of `features` values in ±`scale` (kept as case `{name}-{rows}`).
fn check_equal(name: &str, model: &Path, features: usize, scale: f64, output: &str) -> PathBuf {
    let (onnx, text) = export(model);
    assert!(text.contains("wrote an ONNX graph (opset 17)"), "{text}");
    for (rows, seed) in [(1, 3), (7, 4)] {
        let xs = common::random_in(&[rows, features], seed, scale, DType::F32);
        let expected = model_output(model, &xs);
        keep_case(&format!("{name}-{rows}"), &onnx, &xs, &expected);
        let got = candle_onnx_output(&onnx, &xs, output);
        assert_close(&got, &expected, &format!("candle-onnx, {rows} rows"));
        let got = tract_output(&onnx, to_tract(&xs));
        assert_close(&got, &expected, &format!("tract, {rows} rows"));
    }
    onnx
}

#[test]
fn an_mlp_with_every_activation_gives_the_models_probabilities() {
    let dir = common::scratch("onnx-mlp");
    let layers = "dense:8,relu,dense:8,tanh,dense:8,sigmoid,dense:8,gelu";
    let model = train(&dir, "spirals:40", layers, &["--normalize"]);
    let onnx = check_equal("mlp", &model, 2, 3.0, "probabilities");

    // What the file says of itself: opset 17, `input` [batch, 2], `probabilities` [batch, 2],
    // float32 initializers, the model's description and its standardisation in the metadata.
    let proto = candle_onnx::read_file(&onnx).unwrap();
    assert_eq!(proto.opset_import[0].version, 17);
    let graph = proto.graph.as_ref().unwrap();
    let batch = || Some(dimension::Value::DimParam("batch".into()));
    assert_eq!(graph.input[0].name, "input");
    let two = Some(dimension::Value::DimValue(2));
    assert_eq!(
        port(&graph.input[0]),
        (DataType::Float, vec![batch(), two.clone()])
    );
    assert_eq!(graph.output[0].name, "probabilities");
    assert_eq!(
        port(&graph.output[0]),
        (DataType::Float, vec![batch(), two])
    );
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
    check_equal("bce-mlp", &model, 2, 3.0, "probabilities");
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
        check_equal(&format!("conv-net-{i}"), &model, 64, 1.0, "probabilities");
    }
}

/// A GPT of `layers` (`gpt:N_LAYER:N_HEAD:N_EMBD`) trained 30 steps with block size 8 on
/// `text(600)` (11 characters: "\n .abcdefgh").
fn train_gpt(dir: &Path, layers: &str) -> PathBuf {
    let (text, _) = common::text::write_text(dir, "t.txt", 600);
    let model = dir.join("gpt.safetensors");
    ok(&[
        "train",
        "--data",
        &text,
        "--layers",
        layers,
        "--block-size",
        "8",
        "--batch-size",
        "4",
        "--steps",
        "30",
        "--lr",
        "1e-2",
        "--save",
        model.to_str().unwrap(),
    ]);
    model
}

/// Checks the GPT's graph by tract against the model's own logits for `batch` sequences of each
/// of `lengths` tokens (ids drawn from the vocabulary of `vocab`; kept as case `{name}-{b}x{t}`).
fn check_gpt(name: &str, model: &Path, onnx: &Path, vocab: usize, batch: usize, lengths: &[usize]) {
    let (_, network) = simple_nn::io::load_model(model, DType::F32, &Device::Cpu).unwrap();
    let gpt = network.as_gpt().unwrap();
    for (seed, &t) in lengths.iter().enumerate() {
        let ids: Vec<u32> = common::uniform(batch * t, seed as u64)
            .iter()
            .map(|u| ((u + 1.0) / 2.0 * vocab as f64) as u32)
            .collect();
        let expected = gpt
            .forward_t(
                &Tensor::from_vec(ids.clone(), (batch, t), &Device::Cpu).unwrap(),
                false,
            )
            .unwrap();
        let ids: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        let kept = Tensor::from_vec(ids.clone(), (batch, t), &Device::Cpu).unwrap();
        keep_case(&format!("{name}-{batch}x{t}"), onnx, &kept, &expected);
        let input = tract_onnx::prelude::Tensor::from_shape(&[batch, t], &ids).unwrap();
        let got = tract_output(onnx, input);
        assert_close(&got, &expected, &format!("{batch} sequences of {t} tokens"));
    }
}

#[test]
fn a_trained_gpt_gives_the_models_logits_at_every_length_up_to_its_block() {
    let dir = common::scratch("onnx-gpt");
    let model = train_gpt(&dir, "gpt:2:2:16");
    let (onnx, text) = export(&model);
    assert!(
        text.contains(
            "input 'input_ids' [batch, sequence] int64, output 'logits' [batch, sequence, 11]"
        ),
        "{text}"
    );
    check_gpt("gpt", &model, &onnx, 11, 3, &[1, 5, 8]);
    check_gpt("gpt", &model, &onnx, 11, 1, &[8]);

    // What the file says of itself: opset 17, int64 ids in, logits out, both of a symbolic batch
    // and length; the standard LayerNormalization; the embedding stored once, though it is also
    // the output layer; the vocabulary in the metadata.
    let proto = candle_onnx::read_file(&onnx).unwrap();
    assert_eq!(proto.opset_import[0].version, 17);
    let graph = proto.graph.as_ref().unwrap();
    let named = |name: &str| Some(dimension::Value::DimParam(name.into()));
    assert_eq!(graph.input[0].name, "input_ids");
    let ids = (DataType::Int64, vec![named("batch"), named("sequence")]);
    assert_eq!(port(&graph.input[0]), ids);
    assert_eq!(graph.output[0].name, "logits");
    let vocab = Some(dimension::Value::DimValue(11));
    let logits = (
        DataType::Float,
        vec![named("batch"), named("sequence"), vocab],
    );
    assert_eq!(port(&graph.output[0]), logits);
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    let count = |op: &str| ops.iter().filter(|&&o| o == op).count();
    // ln_1 and ln_2 of 2 blocks, and ln_f; the attention's softmax in each block.
    assert_eq!(
        (count("LayerNormalization"), count("Softmax")),
        (5, 2),
        "{ops:?}"
    );
    let names: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let wte = names
        .iter()
        .filter(|&&n| n == "transformer.wte.weight")
        .count();
    assert_eq!(wte, 1);
    assert!(!names.iter().any(|n| n.contains("lm_head")), "{names:?}");
    let meta: HashMap<&str, &str> = (proto.metadata_props.iter())
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(meta["vocabulary"], "\n .abcdefgh");
    let description: serde_json::Value = serde_json::from_str(meta["simple-nn-weights"]).unwrap();
    assert_eq!(description["gpt"]["vocabulary"], "\n .abcdefgh");
    assert_eq!(description["head"], "logits");
}

#[test]
fn a_gpt_with_biases_gives_the_models_logits() {
    // nanoGPT's `bias=True`: every layer norm and projection has a bias. `nn train` makes GPTs
    // without (nanoGPT's default), so this one is built here, its biases and norms' scales drawn
    // at random (they start at zeros and ones, which would hide a bias left out).
    use simple_nn::data::text::Vocabulary;
    use simple_nn::io::{save_model, ModelSpec};
    use simple_nn::nn::{Gpt, GptConfig};
    let dir = common::scratch("onnx-gpt-bias");
    let vocabulary = Vocabulary::of("abcdefg").unwrap();
    let config = GptConfig {
        vocab: 7,
        block_size: 6,
        n_layer: 2,
        n_head: 4,
        n_embd: 16,
        bias: true,
        ..Default::default()
    };
    let spec = ModelSpec::gpt(config.clone(), vocabulary).unwrap();
    let (_, mut varmap) = Gpt::seeded(config.clone(), 5, DType::F32, &Device::Cpu).unwrap();
    for (i, (name, shape, _)) in config.parameters().into_iter().enumerate() {
        if name.ends_with(".bias") || name.contains(".ln_") {
            let values = common::random_in(&shape, 100 + i as u64, 0.5, DType::F32);
            let values = match name.ends_with(".weight") {
                true => (values + 1.0).unwrap(),
                false => values,
            };
            varmap.set_one(&name, values).unwrap();
        }
    }
    let model = dir.join("gpt.safetensors");
    save_model(&model, &spec, &varmap).unwrap();
    let (onnx, _) = export(&model);
    check_gpt("gpt-bias", &model, &onnx, 7, 2, &[1, 4, 6]);
}

#[test]
fn what_cannot_be_exported_is_refused_in_one_line_before_any_work() {
    let dir = common::scratch("onnx-refused");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let model = train(&dir, "spirals:40", "dense:4", &[]);
    let model = model.to_str().unwrap();
    let export = |model: &str, output: &str, format: &str| {
        refused(&[
            "export", "--model", model, "--output", output, "--format", format,
        ])
    };
    let err = export(model, &p("m.tflite"), "tflite");
    assert!(
        err.contains("unknown format 'tflite'") && err.contains("onnx"),
        "{err}"
    );
    let err = export(model, &p("m2.safetensors"), "onnx");
    assert!(err.contains(".onnx"), "{err}");
    // The output is checked first: a bad one is named even when the model is missing too.
    let err = export(&p("absent.safetensors"), &p("missing/m.onnx"), "onnx");
    assert!(err.contains("missing") && !err.contains("absent"), "{err}");
    assert!(!dir.join("m.tflite").exists() && !dir.join("m2.safetensors").exists());
}
