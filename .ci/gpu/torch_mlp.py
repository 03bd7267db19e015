"""PyTorch side of the GPU check: the workload of `mlp bench` (784-512-512-10, ReLU, bias,
softmax cross-entropy, SGD 0.01, one fixed random batch) on CUDA, in f32 or bf16.

Usage: python torch_mlp.py STEPS BATCH DTYPE [phases]   (DTYPE: f32 or bf16). Prints samples/s;
with `phases`, also the time of forward and loss, backward, and update, synchronised between them.
"""
import sys
import time

import torch

steps, batch = int(sys.argv[1]), int(sys.argv[2])
dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[sys.argv[3]]
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Linear(784, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 10),
).to("cuda", dtype)
x = torch.randn(batch, 784, device="cuda", dtype=dtype)
y = torch.arange(batch, device="cuda") % 10
opt = torch.optim.SGD(net.parameters(), lr=0.01)


def step():
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()


for _ in range(3):
    step()
torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(steps):
    step()
torch.cuda.synchronize()
elapsed = time.perf_counter() - start
print("torch mlp cuda: batch %d, %s, %.0f samples/s, %.3f ms/step" % (batch, sys.argv[3], steps * batch / elapsed, elapsed * 1e3 / steps))

if sys.argv[4:] == ["phases"]:
    spent = [0.0, 0.0, 0.0]
    for _ in range(steps):
        marks = [time.perf_counter()]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        loss.backward()
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        opt.step()
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        for i in range(3):
            spent[i] += marks[i + 1] - marks[i]
    ms = [s * 1e3 / steps for s in spent]
    print("phases: forward+loss %.3f ms, backward %.3f ms, update %.3f ms" % tuple(ms))
