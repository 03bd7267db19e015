"""Loads the weights `nn export` wrote into a PyTorch module, strictly, and prints what `nn predict` prints.

    cargo run --release --example nn -- export --model m.safetensors --output weights.safetensors
    python examples/torch_load_export.py weights.safetensors --data csv:table.csv
    python examples/torch_load_export.py weights.safetensors --data mnist:mnist/ --compare predictions.csv

The network is rebuilt from the spec in the file's metadata, as simple-nn's `Net` lays it out:
the hidden layers in order, then a dense output layer; a dense layer after an image-shaped one
flattens first; the i-th layer with parameters is `layers.{i}` (its weight, bias, and for batch
norm the running statistics). `load_state_dict(..., strict=True)` takes the file as it is. The
inputs are standardised with the saved statistics, as `nn predict` does, before the network.

`--data` reads a table (`csv:PATH`, columns matched by the names in the metadata, text columns
one-hot over their saved categories; a model trained on other data takes every column but
`label`) or MNIST's test images (`mnist:DIR`). `--compare` reads `nn predict`'s CSV of the same
data and prints the largest difference; `--dtype float64` computes as `nn predict --dtype f64`
does. Needs torch, numpy and safetensors.
"""

import argparse
import csv
import gzip
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class Net(nn.Module):
    """The network an `nn export` file describes (its metadata's "simple-nn-weights")."""

    def __init__(self, description):
        super().__init__()
        self.input_shape = tuple(description["input_shape"])
        self.head = description["head"]
        # The layers with parameters, numbered as the file names them: layers.0, layers.1, …
        self.layers = nn.ModuleList()
        # Those without (activations, pooling, dropout, flatten).
        self.ops = nn.ModuleList()
        # The order of both: ("layers", i) or ("ops", j).
        self.order = []
        bias = description["bias"]
        shape = list(self.input_shape)
        tokens = [t for t in description["layers"].split(",") if t]
        for token in tokens + [f"dense:{description['outputs']}"]:
            name, *args = token.split(":")
            if name == "dense":
                if len(shape) > 1:
                    self.add_op(nn.Flatten())
                    shape = [math.prod(shape)]
                self.add_layer(nn.Linear(shape[0], int(args[0]), bias=bias))
                shape = [int(args[0])]
            elif name == "conv":
                out, k = int(args[0]), int(args[1])
                stride, pad = (int(args[2]), int(args[3])) if len(args) == 4 else (1, 0)
                self.add_layer(nn.Conv2d(shape[0], out, k, stride=stride, padding=pad, bias=bias))
                shape = [out] + [(s + 2 * pad - k) // stride + 1 for s in shape[1:]]
            elif name in ("maxpool", "avgpool"):
                k = int(args[0])
                self.add_op(nn.MaxPool2d(k) if name == "maxpool" else nn.AvgPool2d(k))
                shape = [shape[0]] + [s // k for s in shape[1:]]
            elif name == "batchnorm":
                norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
                self.add_layer(norm(shape[0], eps=1e-5, momentum=0.1))
            elif name == "dropout":
                self.add_op(nn.Dropout(float(args[0])))
            elif name == "flatten":
                self.add_op(nn.Flatten())
                shape = [math.prod(shape)]
            elif name in ACTIVATIONS:
                self.add_op(ACTIVATIONS[name]())
            else:
                raise ValueError(f"unknown layer '{token}' in the file's spec")

    def add_layer(self, module):
        self.order.append(("layers", len(self.layers)))
        self.layers.append(module)

    def add_op(self, module):
        self.order.append(("ops", len(self.ops)))
        self.ops.append(module)

    def forward(self, xs):
        """Rows of features (N, F) -> the output layer's values (N, outputs), before the head."""
        h = xs.reshape((xs.shape[0],) + self.input_shape)
        for kind, i in self.order:
            h = getattr(self, kind)[i](h)
        return h

    def predictions(self, xs):
        """What `nn predict` writes: softmax probabilities, sigmoid ones, or the values."""
        out = self(xs)
        if self.head == "softmax":
            return torch.softmax(out, dim=1)
        if self.head == "sigmoid":
            return torch.sigmoid(out)
        return out


def load(path):
    """The network of an exported file with its weights loaded strictly, in their dtype, and its description."""
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    if "simple-nn-weights" not in metadata:
        sys.exit(f"{path} has no 'simple-nn-weights' description: write it with `nn export`")
    description = json.loads(metadata["simple-nn-weights"])
    if description.get("gpt"):
        sys.exit(f"{path} holds a GPT under nanoGPT's names: load it with nanoGPT's GPT, e.g. "
                 f"../shared/peers/torch_gpt.py --load {path} (with its --n-layer, --n-head, --n-embd, --block-size)")
    state = load_file(path)
    net = Net(description).to(state["layers.0.weight"].dtype)
    net.load_state_dict(state, strict=True)
    return net.eval(), description


def table_features(path, description, delimiter):
    """A table's inputs as `nn predict` reads them: float32, columns by name, text one-hot."""
    if delimiter is None:
        delimiter = "\t" if path.endswith((".tsv", ".tab")) else ","
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f, delimiter=delimiter) if r]
    header, rows = rows[0], rows[1:]
    table = description.get("table")
    if table is None:
        columns = [{"name": n} for n in header if n and n != "label"]
    else:
        columns = table["features"]
    missing = [c["name"] for c in columns if c["name"] not in header]
    if missing:
        sys.exit(f"{path} lacks the column(s) {missing} the model takes")
    inputs = []
    for row in rows:
        values = []
        for column in columns:
            cell = row[header.index(column["name"])]
            categories = column.get("categories")
            if categories is None:
                values.append(cell)
            else:
                values.extend("1" if cell == c else "0" for c in categories)
        inputs.append(values)
    return np.array(inputs, dtype=np.float32)


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


def predictions_csv(description, predictions):
    """The rows `nn predict` writes: `predicted,p_CLASS,…` for classifiers, `output0,…` for values."""
    table = description.get("table") or {}
    classes = 2 if description["loss"] == "bce" else description.get("classes") or 0
    names = table.get("classes") or [str(c) for c in range(classes)]
    rows = []
    if description["loss"] in ("cross-entropy", "bce") and classes > 0:
        rows.append(["predicted"] + [f"p_{n}" for n in names])
        for p in predictions:
            p = [1.0 - p[0], p[0]] if description["loss"] == "bce" else list(p)
            best = names[max(range(len(p)), key=lambda i: (p[i], i))]  # the last of equal maxima, as Rust's max_by
            rows.append([best] + [f"{v:.6f}" for v in p])
    else:
        rows.append([f"output{o}" for o in range(description["outputs"])])
        rows.extend([f"{v:.6f}" for v in p] for p in predictions)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a file written by `nn export`")
    parser.add_argument("--data", required=True, help="csv:PATH or mnist:DIR")
    parser.add_argument("--delimiter", help="a table's field separator [default: tab for .tsv and .tab, else comma]")
    parser.add_argument("--compare", help="nn predict's CSV of the same data: print the largest difference")
    parser.add_argument("--dtype", choices=["float32", "float64"], help="compute in this dtype, as `nn predict --dtype f32|f64` [default: the weights']")
    args = parser.parse_args()
    net, description = load(args.weights)
    if args.dtype:
        net = net.to(getattr(torch, args.dtype))
    kind, _, where = args.data.partition(":")
    if kind == "csv":
        xs = table_features(where, description, args.delimiter)
    elif kind == "mnist":
        xs = mnist_features(where)
    else:
        sys.exit(f"--data {args.data}: this script reads csv:PATH or mnist:DIR")
    if xs.shape[1] != math.prod(description["input_shape"]):
        sys.exit(f"--data {args.data} has {xs.shape[1]} inputs per row, the model takes {math.prod(description['input_shape'])}")
    norm = description.get("normalization")
    if norm is not None:
        xs = (xs - np.array(norm["mean"], dtype=np.float32)) / np.array(norm["std"], dtype=np.float32)
    dtype = net.layers[0].weight.dtype
    with torch.no_grad():
        predictions = net.predictions(torch.from_numpy(xs).to(dtype)).double().tolist()
    rows = predictions_csv(description, predictions)
    csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
    if args.compare:
        with open(args.compare, newline="") as f:
            theirs = list(csv.reader(f))
        if len(theirs) != len(rows) or theirs[0] != rows[0]:
            sys.exit(f"{args.compare} has {len(theirs)} rows headed {theirs[0]}, not {len(rows)} headed {rows[0]}")
        numeric = 1 if rows[0][0] == "predicted" else 0
        diff = max(
            abs(float(a) - b)
            for mine, other in zip(predictions, theirs[1:])
            for a, b in zip(other[numeric:], [1.0 - mine[0], mine[0]] if description["loss"] == "bce" else mine)
        )
        line = f"{len(rows) - 1} rows against {args.compare}: largest difference {diff:.2e} (its numbers have 6 decimals)"
        if numeric:
            same = sum(a[0] == b[0] for a, b in zip(rows[1:], theirs[1:]))
            line += f", the same predicted class in {same}"
        print(line, file=sys.stderr)


if __name__ == "__main__":
    main()
