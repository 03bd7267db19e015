"""One epoch of an MNIST MLP in PyTorch with its Dataset and DataLoader, for comparison with
`nn train --data mnist:DIR --hidden 128 --batch-size 64 --epochs 1`.

The Dataset holds the IDX files' pixels as uint8 (as torchvision's MNIST does) and converts each
sample to float32 / 255 when the DataLoader asks for it; 6000 images are held out for validation
(random_split, seed 0); 784-128-10 ReLU MLP, AdamW 1e-3, batch 64, shuffled. Prints the epoch's
seconds, samples/s and peak resident memory (ru_maxrss).

Usage: python torch_mnist_loader.py DIR [THREADS] [WORKERS]   (needs torch and numpy)
"""
import gzip
import os
import resource
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


class Mnist(torch.utils.data.Dataset):
    def __init__(self, folder):
        self.images = torch.from_numpy(idx(find(folder, "train-images-idx3-ubyte")).copy())
        self.labels = torch.from_numpy(idx(find(folder, "train-labels-idx1-ubyte")).astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].reshape(-1).float() / 255.0, self.labels[i]


folder = sys.argv[1]
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 0
torch.manual_seed(0)
data = Mnist(folder)
train, valid = torch.utils.data.random_split(data, [len(data) - 6000, 6000], torch.Generator().manual_seed(0))
loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True, num_workers=workers)
net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)
start = time.perf_counter()
for xs, ys in loader:
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(xs), ys).backward()
    opt.step()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch mnist: 1 epoch of {len(train)} samples in {seconds:.2f} s, {len(train) / seconds:.0f} samples/s, peak RSS {peak:.0f} MB")
