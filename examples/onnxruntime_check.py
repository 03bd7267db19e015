"""Runs graphs that `nn export --format onnx` wrote on onnxruntime, and compares its outputs with
simple-nn's own.

    pip install onnxruntime onnx numpy

    # The test suite's cases: each graph, an input, and the model's own output for it.
    SIMPLE_NN_ONNX_CASES=cases cargo test --release --features onnx-check --test onnx
    python examples/onnxruntime_check.py cases cases/

    # A conv net trained on MNIST, against `nn predict` on MNIST's test images.
    nn predict --model cnn.safetensors --data mnist:mnist/ --output predictions.csv
    python examples/onnxruntime_check.py mnist cnn.onnx mnist/ predictions.csv

    # A GPT, greedy: the same text as `nn generate --top-k 1` with the same prompt.
    python examples/onnxruntime_check.py generate gpt.onnx --prompt "ROMEO:" --tokens 200

`cases` runs each case in the folder (`NAME.onnx`, `NAME.input.npy`, `NAME.expected.npy`, as
`SIMPLE_NN_ONNX_CASES=DIR` makes tests/onnx.rs keep them) and prints its largest difference,
also as a fraction of the largest output where that is over 1 (a GPT's logits: float32 rounds
them to about 1e-6 of their size);
`mnist` reads MNIST's test images as `nn predict` does (pixels / 255, one row per image) and
compares the probabilities with its CSV (written to 6 decimals); `generate` continues the prompt
one character at a time, the most likely one each time, the context cut to the model's last
block-size characters, as `nn generate --top-k 1` does, and prints the text. Each graph is first
checked by `onnx.checker.check_model(full_check=True)`. `cases` and `mnist` exit 1 when a
difference is over `--tolerance`.
"""

import argparse
import csv
import glob
import gzip
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def session(path):
    """An onnxruntime session on the CPU for the graph at `path`, checked by onnx's checker first."""
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run(sess, x):
    """The graph's one output for its one input `x`."""
    (output,) = sess.run(None, {sess.get_inputs()[0].name: x})
    return output


def cases(args):
    worst = 0.0
    inputs = sorted(glob.glob(os.path.join(args.folder, "*.input.npy")))
    if not inputs:
        sys.exit(f"no *.input.npy in {args.folder}: run tests/onnx.rs with SIMPLE_NN_ONNX_CASES={args.folder}")
    for path in inputs:
        name = path[: -len(".input.npy")]
        sess = session(name + ".onnx")
        x, expected = np.load(path), np.load(name + ".expected.npy")
        got = run(sess, x)
        if got.shape != expected.shape:
            sys.exit(f"{os.path.basename(name)}: onnxruntime gives {got.shape}, the model {expected.shape}")
        diff = float(np.abs(got.astype(np.float64) - expected).max())
        scale = max(1.0, float(np.abs(expected).max()))
        worst = max(worst, diff / scale)
        print(f"{os.path.basename(name):<16} {str(list(x.shape)):<12} -> {str(list(got.shape)):<14} "
              f"largest difference {diff:.2e}, of the largest output {diff / scale:.1e}")
    print(f"{len(inputs)} cases, onnxruntime {ort.__version__}: largest difference {worst:.1e} of the "
          f"largest output (tolerance {args.tolerance:g})")
    return worst <= args.tolerance


def mnist_features(folder):
    """MNIST's test images as `nn predict` reads them: one row of pixels / 255 per image, float32."""
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            data = (gzip.open if name.endswith(".gz") else open)(path, "rb").read()
            count, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
            pixels = np.frombuffer(data, dtype=np.uint8, offset=16, count=count * rows * cols)
            return pixels.reshape(count, rows * cols).astype(np.float32) / np.float32(255)
    sys.exit(f"no t10k-images-idx3-ubyte[.gz] in {folder}")


def mnist(args):
    sess = session(args.model)
    xs = mnist_features(args.folder)
    with open(args.predictions, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    columns = [i for i, name in enumerate(header) if name.startswith("p_")]
    expected = np.array([[float(row[i]) for i in columns] for row in rows])
    if len(expected) != len(xs):
        sys.exit(f"{args.predictions} has {len(expected)} rows, {args.folder} {len(xs)} test images")
    got = np.concatenate([run(sess, xs[i : i + 1000]) for i in range(0, len(xs), 1000)])
    diff = float(np.abs(got - expected).max())
    agree = int((got.argmax(1) == expected.argmax(1)).sum())
    print(f"{len(xs)} images, onnxruntime {ort.__version__}: largest difference from nn predict {diff:.2e} "
          f"(its CSV has 6 decimals); the same class for {agree}")
    return diff <= args.tolerance


def generate(args):
    sess = session(args.model)
    meta = onnx.load(args.model).metadata_props
    vocabulary = next(p.value for p in meta if p.key == "vocabulary")
    block = json.loads(next(p.value for p in meta if p.key == "simple-nn-weights"))["gpt"]["config"]["block_size"]
    missing = sorted(set(args.prompt) - set(vocabulary))
    if missing:
        sys.exit(f"the prompt has characters the model does not know: {missing!r}")
    ids = [vocabulary.index(c) for c in args.prompt]
    for _ in range(args.tokens):
        context = np.array([ids[-block:]], dtype=np.int64)
        logits = run(sess, context)
        ids.append(int(logits[0, -1].argmax()))
    sys.stdout.write("".join(vocabulary[i] for i in ids))
    sys.stdout.flush()
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("cases", help="the cases tests/onnx.rs kept")
    c.add_argument("folder")
    m = commands.add_parser("mnist", help="a graph of an MNIST model against nn predict's CSV")
    m.add_argument("model")
    m.add_argument("folder")
    m.add_argument("predictions")
    g = commands.add_parser("generate", help="greedy text from a GPT's graph")
    g.add_argument("model")
    g.add_argument("--prompt", default="\n")
    g.add_argument("--tokens", type=int, default=200)
    for p, tolerance in ((c, 1e-5), (m, 1e-5)):
        p.add_argument("--tolerance", type=float, default=tolerance)
    args = parser.parse_args()
    ok = {"cases": cases, "mnist": mnist, "generate": generate}[args.command](args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
