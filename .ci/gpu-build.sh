#!/usr/bin/env bash
# Builds, on a machine without a GPU, everything the GPU check runs: the examples and the test
# binaries with the `cuda` feature, linked against stand-ins for the CUDA libraries, stripped,
# compressed and laid out in .gpu/ (git-ignored) next to .ci/gpu-run.sh.
# Then, on the GPU machine, from the repository root with .gpu carried:  bash .ci/gpu-run.sh
# Needs ../shared/cuda (the real nvcc from PyPI wheels, the link stand-ins). ~10 min cold.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
eval "$("$shared/cuda/toolkit.sh")"
stubs="$PWD/target/cuda-stubs"
"$shared/cuda/make-stubs.sh" "$stubs" "$CUDART_SO" >/dev/null
export RUSTFLAGS="-L native=$stubs" CARGO_TARGET_DIR="$PWD/target/cuda"
cargo build --release --features cuda --examples
tests=$(cargo test --release --features cuda --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')
rm -rf .gpu && mkdir -p .gpu/release/deps .gpu/release/examples
for t in $tests; do
  name=$(basename "$t"); name=${name%-*}
  # The tests that exercise a device; each binary is ~6 MB compressed and 64 MiB travel in all.
  case "$name" in conv|dense|devices|equivalence|example_xor|example_nn) ;; *) continue ;; esac
  cp "$t" ".gpu/release/deps/$name"
done
cp "$CARGO_TARGET_DIR/release/examples/xor" "$CARGO_TARGET_DIR/release/examples/nn" .gpu/release/examples/
strip .gpu/release/deps/* .gpu/release/examples/*
cp "$shared/cuda/run-with-cuda-libs.sh" .gpu/
xz -T0 -6 .gpu/release/deps/* .gpu/release/examples/*
du -sh .gpu
echo "ready: carry .gpu and run 'bash .ci/gpu-run.sh' on the GPU machine"
