"""The small MNIST conv net in PyTorch, with the recipe of the README's run, for comparing test
accuracy over seeds with `nn train --data mnist:DIR --valid-fraction 0 --epochs 3 --batch-size 64
--layers conv:8:5,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:64,relu --seed S`.

Model: conv 5x5 1->8, ReLU, max-pool 2, conv 5x5 8->16, ReLU, max-pool 2, flatten (256), linear
256->64, ReLU, linear 64->10; PyTorch's default initialisation (uniform in ±1/sqrt(fan_in) for
weights and biases, as the crate draws them); float32, softmax cross-entropy, AdamW(lr=1e-3,
weight_decay=0: the crate's default, where PyTorch's is 0.01), batch 64, all 60000 training images
reshuffled every epoch (the last batch smaller), 3 epochs; pixels / 255. Prints one JSON line:
the seed, the training loss of each epoch (mean per sample), the test accuracy and seconds.

Usage: python torch_mnist_cnn.py DIR [SEED] [THREADS]   (needs torch and numpy)
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import torch


def idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(folder, name):
    for candidate in (name, name + ".gz"):
        if os.path.exists(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    raise SystemExit(f"no {name} in {folder}")


def part(folder, prefix):
    images = idx(find(folder, f"{prefix}-images-idx3-ubyte"))
    labels = idx(find(folder, f"{prefix}-labels-idx1-ubyte"))
    xs = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return xs, torch.from_numpy(labels.astype(np.int64))


folder = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
torch.manual_seed(seed)
train_x, train_y = part(folder, "train")
test_x, test_y = part(folder, "t10k")
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10),
)
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)
losses = []
start = time.perf_counter()
for epoch in range(3):
    order = torch.randperm(len(train_y))
    total = 0.0
    for i in range(0, len(order), 64):
        batch = order[i : i + 64]
        loss = torch.nn.functional.cross_entropy(net(train_x[batch]), train_y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(batch)
    losses.append(total / len(order))
seconds = time.perf_counter() - start
net.eval()
with torch.no_grad():
    correct = sum(
        (net(test_x[i : i + 1000]).argmax(1) == test_y[i : i + 1000]).sum().item()
        for i in range(0, len(test_y), 1000)
    )
print(json.dumps({"seed": seed, "train_loss": losses, "test_accuracy": correct / len(test_y), "seconds": seconds}))
