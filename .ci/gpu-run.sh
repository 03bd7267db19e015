#!/usr/bin/env bash
# The GPU check, on the GPU machine, from the repository root, with .gpu built by .ci/gpu-build.sh.
# Runs the device tests on CUDA, the xor example on --device cuda, and `nn bench` beside PyTorch
# (.ci/gpu/torch_mlp.py) at batch 256, 4096 and 65536 in f32 and bf16; prints a table with
# samples/s, ratios and achieved TFLOP/s; then, at batch 65536, the time of each phase of a step
# (forward and loss, backward, update) for both. Results also go to $OUT (or ./gpu-out) as files.
# and the conv net of PyTorch's MNIST example (`nn bench --layers …` beside .ci/gpu/torch_cnn.py).
# Usage: bash .ci/gpu-run.sh [SECTION...]   SECTION: tests xor bench phases cnn (default: all of them)
set -uo pipefail
# On the GPU machine a test that cannot open CUDA fails instead of skipping it.
export SIMPLE_NN_REQUIRE_GPU=1
sections=${*:-tests xor bench phases cnn}
want() { [[ " $sections " == *" $1 "* ]]; }
out=${OUT:-gpu-out}; mkdir -p "$out"
run() { bash .gpu/run-with-cuda-libs.sh "$@"; }
unxz -f .gpu/release/deps/*.xz .gpu/release/examples/*.xz
chmod +x .gpu/release/deps/* .gpu/release/examples/*
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

status=0
[ -n "$(ls .gpu/release/deps 2>/dev/null)" ] || { echo "no test binaries in .gpu: run .ci/gpu-build.sh first" >&2; exit 1; }
want tests && echo "=== tests on CUDA" && for t in .gpu/release/deps/*; do
  echo "--- $(basename "$t")"
  # A bound per binary, so that a hang still leaves time for the benchmark below.
  timeout 240 bash .gpu/run-with-cuda-libs.sh "$t" --test-threads 1 --nocapture >"$out/test-$(basename "$t").log" 2>&1
  rc=$?
  grep -E "^test .*(ok|FAILED)$|test result|panicked|max \||skipped" "$out/test-$(basename "$t").log" | tee -a "$out/tests.txt"
  [ "$rc" -eq 0 ] || { status=1; echo "exit $rc" | tee -a "$out/tests.txt"; }
done

want xor && echo "=== xor on cuda" && for dtype in f64 f32; do
  run .gpu/release/examples/xor --device cuda --dtype "$dtype" --print-every 0 | tail -1
done

flops() { python3 -c "b=$1; s=[784,512,512,10]; print(6*b*sum(i*o for i,o in zip(s,s[1:])))"; }
want bench && echo "=== nn bench on cuda beside PyTorch" &&
printf '| dtype | batch | PyTorch samples/s | stock samples/s | fused samples/s | fused / PyTorch | fused TFLOP/s |\n|---|---|---|---|---|---|---|\n' | tee "$out/bench.md" &&
for dtype in f32 bf16; do
  for batch in 256 4096 65536; do
    steps=$(( batch >= 65536 ? 50 : 200 ))
    torch=$(python3 .ci/gpu/torch_mlp.py "$steps" "$batch" "$dtype" | grep -oP '[0-9.]+(?= samples/s)')
    ours() { run .gpu/release/examples/nn bench --device cuda --dtype "$dtype" --batch-size "$batch" --steps "$steps" --kernels "$1" | grep -oP '[0-9.]+(?= samples/s)'; }
    stock=$(ours stock); fused=$(ours fused)
    python3 -c "t=float('${torch:-nan}'); s=float('${stock:-nan}'); o=float('${fused:-nan}'); f=$(flops "$batch"); print(f'| $dtype | $batch | {t:.0f} | {s:.0f} | {o:.0f} | {o/t:.2f}x | {o*f/$batch/1e12:.1f} |')" | tee -a "$out/bench.md"
  done
done
want phases && echo "=== phases of one step at batch 65536 (ms, synchronised between phases)" &&
for dtype in f32 bf16; do
  echo "--- $dtype PyTorch"; python3 .ci/gpu/torch_mlp.py 30 65536 "$dtype" phases | tail -1
  for kernels in stock fused; do
    echo "--- $dtype $kernels"
    run .gpu/release/examples/nn bench --device cuda --dtype "$dtype" --batch-size 65536 --steps 30 --kernels "$kernels" --phases | tail -1
  done
done | tee "$out/phases.txt"
CNN=conv:32:3,relu,conv:64:3,relu,maxpool:2,dropout:0.25,flatten,dense:128,relu,dropout:0.5
want cnn && echo "=== conv net (PyTorch's MNIST example) on cuda beside PyTorch, f32" &&
printf '| batch | PyTorch samples/s | simple-nn samples/s | ratio |\n|---|---|---|---|\n' | tee "$out/cnn.md" &&
for batch in 64 256 1024; do
  torch=$(python3 .ci/gpu/torch_cnn.py 50 "$batch" 1 cuda | grep -oP '[0-9.]+(?= samples/s)')
  ours=$(run .gpu/release/examples/nn bench --device cuda --inputs 1,28,28 --layers "$CNN" --classes 10 --batch-size "$batch" --steps 50 | grep -oP '[0-9.]+(?= samples/s)')
  python3 -c "t=float('${torch:-nan}'); o=float('${ours:-nan}'); print(f'| $batch | {t:.0f} | {o:.0f} | {o/t:.2f}x |')" | tee -a "$out/cnn.md"
done
exit $status
