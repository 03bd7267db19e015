"""Test accuracy of the small MNIST conv net over several seeds, this crate beside PyTorch.

For each seed, alternately: `nn train` with the README's recipe (AdamW 1e-3, batch 64, 3 epochs,
all 60000 images) then `nn eval` on the 10000 test images, and examples/torch_mnist_cnn.py with
the same recipe and seed. Prints each run, then the mean, the sample standard deviation and the
range of the test accuracy on each side, as a Markdown table.

Usage: python examples/mnist_seeds.py MNIST_DIR [SEEDS] [THREADS]   (default 5 seeds, 2 threads)
Run from the repository root; needs torch and numpy for the PyTorch side.
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

folder = sys.argv[1]
seeds = range(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
threads = sys.argv[3] if len(sys.argv) > 3 else "2"
here = os.path.dirname(os.path.abspath(__file__))
layers = "conv:8:5,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:64,relu"
subprocess.run(["cargo", "build", "--release", "--example", "nn"], check=True)
nn = os.path.join("target", "release", "examples", "nn")


def ours(seed, scratch):
    model = os.path.join(scratch, f"seed{seed}.safetensors")
    history = os.path.join(scratch, f"seed{seed}.csv")
    scored = os.path.join(scratch, f"seed{seed}.json")
    subprocess.run(
        [nn, "train", "--data", f"mnist:{folder}", "--valid-fraction", "0", "--epochs", "3",
         "--batch-size", "64", "--layers", layers, "--seed", str(seed), "--threads", threads,
         "--save", model, "--history", history],
        check=True, stdout=subprocess.DEVNULL)
    subprocess.run([nn, "eval", "--model", model, "--data", f"mnist:{folder}", "--metrics-json", scored,
                    "--threads", threads], check=True, stdout=subprocess.DEVNULL)
    with open(history) as f:
        rows = list(csv.DictReader(f))
    with open(scored) as f:
        accuracy = json.load(f)["accuracy"]
    return {"train_loss": [float(r["train_loss"]) for r in rows], "test_accuracy": accuracy,
            "seconds": sum(float(r["seconds"]) for r in rows)}


def torch(seed):
    out = subprocess.run([sys.executable, os.path.join(here, "torch_mnist_cnn.py"), folder, str(seed), threads],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


runs = {"simple-nn": [], "PyTorch": []}
with tempfile.TemporaryDirectory() as scratch:
    for seed in seeds:
        for side, run in (("simple-nn", lambda: ours(seed, scratch)), ("PyTorch", lambda: torch(seed))):
            result = run()
            runs[side].append(result)
            losses = " / ".join(f"{l:.4f}" for l in result["train_loss"])
            print(f"{side:9} seed {seed}: test accuracy {100 * result['test_accuracy']:.2f}%, "
                  f"training loss by epoch {losses}, {result['seconds']:.1f} s", flush=True)

print("\n| | seeds | test accuracy: mean | standard deviation | range | training loss by epoch (mean) |")
print("|---|---|---|---|---|---|")
for side, results in runs.items():
    acc = [100 * r["test_accuracy"] for r in results]
    spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
    epochs = zip(*(r["train_loss"] for r in results))
    losses = " / ".join(f"{statistics.mean(e):.4f}" for e in epochs)
    print(f"| {side} | {len(acc)} | {statistics.mean(acc):.2f}% | {spread:.2f} | "
          f"{min(acc):.2f}–{max(acc):.2f}% | {losses} |")
