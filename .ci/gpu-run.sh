#!/usr/bin/env bash
# The GPU check, on the GPU machine, from the repository root, with .gpu built by .ci/gpu-build.sh.
# Runs the device tests on CUDA, the xor example on --device cuda, and `mlp bench` beside PyTorch
# (.ci/gpu/torch_mlp.py) at batch 256, 4096 and 65536 in f32 and bf16; prints a table with
# samples/s, ratios and achieved TFLOP/s. Results also go to $OUT (or ./gpu-out) as files.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
run() { bash .gpu/run-with-cuda-libs.sh "$@"; }
unxz -f .gpu/release/deps/*.xz .gpu/release/examples/*.xz
chmod +x .gpu/release/deps/* .gpu/release/examples/*
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

echo "=== tests on CUDA"
status=0
for t in .gpu/release/deps/*; do
  echo "--- $(basename "$t")"
  run "$t" --test-threads 1 --nocapture 2>&1 | grep -E "test result|FAILED|panicked|max \||skipped" | tee -a "$out/tests.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

echo "=== xor on cuda"
for dtype in f64 f32; do
  run .gpu/release/examples/xor --device cuda --dtype "$dtype" --print-every 0 --metrics-json "$out/xor-$dtype.json" | tail -1
done

echo "=== mlp bench on cuda beside PyTorch"
flops() { python3 -c "b=$1; s=[784,512,512,10]; print(6*b*sum(i*o for i,o in zip(s,s[1:])))"; }
printf '| dtype | batch | PyTorch samples/s | simple-nn samples/s | ratio | simple-nn TFLOP/s |\n|---|---|---|---|---|---|\n' | tee "$out/bench.md"
for dtype in f32 bf16; do
  for batch in 256 4096 65536; do
    steps=$(( batch >= 65536 ? 50 : 200 ))
    torch=$(python3 .ci/gpu/torch_mlp.py "$steps" "$batch" "$dtype" | grep -oP '[0-9.]+(?= samples/s)')
    ours=$(run .gpu/release/examples/mlp bench --device cuda --dtype "$dtype" --batch-size "$batch" --steps "$steps" | grep -oP '[0-9.]+(?= samples/s)')
    python3 -c "t=float('${torch:-nan}'); o=float('${ours:-nan}'); f=$(flops "$batch"); print(f'| $dtype | $batch | {t:.0f} | {o:.0f} | {o/t:.2f}x | {o*f/$batch/1e12:.1f} |')" | tee -a "$out/bench.md"
  done
done
exit $status
