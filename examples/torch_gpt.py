"""A character-level GPT in PyTorch, trained from scratch, for side-by-side comparison.

This is ../shared/peers/torch_gpt.py with one option added, --dtype bf16: the forward pass and
the loss run under torch.autocast("cpu", dtype=torch.bfloat16), as nanoGPT's train.py runs them
(`ctx`), the backward and AdamW on the float32 parameters — PyTorch's mixed precision on the CPU
(oneDNN's bf16 kernels, on AMX where the CPU has it). bench_gpt --dtype bf16 runs it beside
`nn bench --dtype bf16`.

The model and training loop are nanoGPT's (karpathy/nanoGPT, model.py and train.py, with the
shakespeare_char config): token and position embeddings, pre-LayerNorm blocks of causal
multi-head self-attention and a 4x GELU MLP, a final LayerNorm, the output layer tied to the token
embedding; no biases (nanoGPT's default); init N(0, 0.02), the residual projections
N(0, 0.02/sqrt(2*n_layer)); AdamW (betas 0.9/beta2, weight decay only on 2-D weights), linear
warm-up then cosine decay to min_lr per step, gradients clipped to global norm grad_clip.

Data: a UTF-8 text file; the vocabulary is the sorted set of its characters; the first 90% of the
characters train, the last 10% validate (contiguous, as nanoGPT's prepare.py). Each training batch
is batch_size windows at uniformly random offsets of the training part (torch.randint, seeded).

Validation loss (what this script reports, and what it is compared on): the mean cross-entropy in
nats per character over the validation part cut into consecutive, non-overlapping windows of
block_size (window k predicts characters k*T+1 .. k*T+T from the ones before it in the window; the
last partial window is left out). Deterministic: no sampling of batches.

Usage:
  python torch_gpt.py --data FILE [--n-layer 4 --n-head 4 --n-embd 128 --block-size 64
      --batch-size 12 --max-iters 2000 --lr 1e-3 --min-lr 1e-4 --warmup 100 --beta2 0.99
      --weight-decay 0.1 --grad-clip 1.0 --dropout 0.0 --seed 1337 --threads 2]
  python torch_gpt.py --data FILE --bench 20      # time 20 training steps (after 3 warm-up steps)
  python torch_gpt.py --data FILE --load W.safetensors   # validation loss of weights saved under nanoGPT's names
The defaults are nanoGPT's CPU run of shakespeare_char from its README (loss "only 1.88").
Prints one JSON line: val_loss, train_seconds, tokens_per_sec, params, ...
"""
import argparse, json, math, time
import torch
import torch.nn as nn
from torch.nn import functional as F

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--n-layer", type=int, default=4)
p.add_argument("--n-head", type=int, default=4)
p.add_argument("--n-embd", type=int, default=128)
p.add_argument("--block-size", type=int, default=64)
p.add_argument("--batch-size", type=int, default=12)
p.add_argument("--max-iters", type=int, default=2000)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--min-lr", type=float, default=1e-4)
p.add_argument("--warmup", type=int, default=100)
p.add_argument("--beta2", type=float, default=0.99)
p.add_argument("--weight-decay", type=float, default=0.1)
p.add_argument("--grad-clip", type=float, default=1.0)
p.add_argument("--dropout", type=float, default=0.0)
p.add_argument("--seed", type=int, default=1337)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--bench", type=int, default=0, help="time this many steps instead of training")
p.add_argument("--load", help="a .safetensors file of weights under nanoGPT's names: evaluate it, no training")
p.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
               help="bf16: forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
p.add_argument("--save", help="after training, write the weights as .safetensors under nanoGPT's names")
a = p.parse_args()
import contextlib
ctx = torch.autocast("cpu", dtype=torch.bfloat16) if a.dtype == "bf16" else contextlib.nullcontext()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)

text = open(a.data, encoding="utf-8").read()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
n = int(0.9 * len(data))
train, val = data[:n], data[n:]
V, T, C = len(chars), a.block_size, a.n_embd


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.c_proj = nn.Linear(C, C, bias=False)
        self.resid_dropout = nn.Dropout(a.dropout)

    def forward(self, x):
        B, t, _ = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(B, t, a.n_head, C // a.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=a.dropout if self.training else 0.0, is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, t, C)))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.c_proj = nn.Linear(4 * C, C, bias=False)
        self.dropout = nn.Dropout(a.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, bias=False)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(C, bias=False)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's module tree, so that its parameter names are nanoGPT's (transformer.h.0.attn.c_attn.weight, ...)."""

    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C), wpe=nn.Embedding(T, C), drop=nn.Dropout(a.dropout),
            h=nn.ModuleList([Block() for _ in range(a.n_layer)]), ln_f=nn.LayerNorm(C, bias=False)))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
        for name, w in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(w, 0.0, 0.02 / math.sqrt(2 * a.n_layer))

    def forward(self, idx, targets):
        t = idx.shape[1]
        tr = self.transformer
        x = tr.drop(tr.wte(idx) + tr.wpe(torch.arange(t)))
        for b in tr.h:
            x = b(x)
        logits = self.lm_head(tr.ln_f(x))
        return F.cross_entropy(logits.view(-1, V), targets.reshape(-1))


model = GPT()
params = sum(q.numel() for q in model.parameters())
decay = [q for q in model.parameters() if q.dim() >= 2]
no_decay = [q for q in model.parameters() if q.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                         {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, a.beta2))


def lr_at(it):
    if it < a.warmup:
        return a.lr * (it + 1) / (a.warmup + 1)
    if it > a.max_iters:
        return a.min_lr
    r = (it - a.warmup) / (a.max_iters - a.warmup)
    return a.min_lr + 0.5 * (1.0 + math.cos(math.pi * r)) * (a.lr - a.min_lr)


def batch():
    ix = torch.randint(len(train) - T, (a.batch_size,))
    return torch.stack([train[i:i + T] for i in ix]), torch.stack([train[i + 1:i + 1 + T] for i in ix])


def step(it):
    for g in opt.param_groups:
        g["lr"] = lr_at(it)
    x, y = batch()
    with ctx:
        loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if a.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
    opt.step()
    return loss.item()


@torch.no_grad()
def val_loss():
    model.eval()
    w = (len(val) - 1) // T
    total = 0.0
    for s in range(0, w, 64):
        k = torch.arange(s, min(w, s + 64))
        x = torch.stack([val[i * T:i * T + T] for i in k])
        y = torch.stack([val[i * T + 1:i * T + T + 1] for i in k])
        with ctx:
            total += model(x, y).item() * len(k)
    model.train()
    return total / w


out = {"dtype": a.dtype, "params": params, "vocab": V, "train_chars": len(train), "val_chars": len(val), "threads": a.threads,
       "batch_size": a.batch_size, "block_size": T}
if a.load:
    raw = open(a.load, "rb").read()
    hn = int.from_bytes(raw[:8], "little"); head = json.loads(raw[8:8 + hn])
    kinds = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16}
    sd = {k: torch.frombuffer(bytearray(raw[8 + hn + v["data_offsets"][0]:8 + hn + v["data_offsets"][1]]),
                              dtype=kinds[v["dtype"]]).reshape(v["shape"])
          for k, v in head.items() if k != "__metadata__" and v["dtype"] in kinds}
    sd = {k: v.float() for k, v in sd.items() if k in dict(model.named_parameters()) or k == "lm_head.weight"}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" and k != "transformer.wte.weight"]
    if missing or not ("transformer.wte.weight" in sd or "lm_head.weight" in sd):
        raise SystemExit("weights missing from %s: %s" % (a.load, missing or ["transformer.wte.weight"]))
    if "transformer.wte.weight" in sd and "lm_head.weight" not in sd:
        model.lm_head.weight = model.transformer.wte.weight
    out.update(loaded=a.load, val_loss=val_loss())
elif a.bench:
    for i in range(3):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.bench):
        step(3 + i)
    dt = time.perf_counter() - t0
    out.update(steps=a.bench, seconds=dt, tokens_per_sec=a.bench * a.batch_size * T / dt)
else:
    t0 = time.perf_counter()
    for it in range(a.max_iters):
        last = step(it)
    dt = time.perf_counter() - t0
    out.update(steps=a.max_iters, train_seconds=dt, tokens_per_sec=a.max_iters * a.batch_size * T / dt,
               last_train_loss=last, val_loss=val_loss())
if a.save and not a.load:
    sd = {k: v.detach().contiguous().float() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    head, blobs, off = {}, [], 0
    for k, v in sd.items():
        b = v.numpy().tobytes(); head[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(head).encode(); h += b" " * (-len(h) % 8)
    with open(a.save, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))
    out.update(saved=a.save)
print(json.dumps(out))
