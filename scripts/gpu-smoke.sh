#!/usr/bin/env bash
# GPU smoke test, for a machine with an NVIDIA GPU (CI does not run it; it installs nothing).
#
#   bash scripts/gpu-smoke.sh
#
# 1. prints what `bert-lab doctor` finds (backends, GPU stack, native kernels);
# 2. if @tensorflow/tfjs-node-gpu is installed, loads and sees a GPU: runs the parity fixture
#    model's forward and backward pass on the GPU against PyTorch's numbers, and timed bert-base
#    training steps on the GPU and on the CPU (wasm + native kernels), and checks that both give
#    the same loss, gradient norm and post-step logits to 1e-3.
# Without a usable GPU it says why and exits 0; it exits 1 only when a check fails on a GPU.
#
# Environment: BATCH (8), LEN (128), STEPS (3 timed steps), FIXTURES (../shared/fixtures/parity),
# GPU_SMOKE_BACKEND (gpu; another backend name runs the same comparison without a GPU, which is
# how the script itself is checked), GPU_SMOKE_FORCE=1 (skip the GPU availability checks).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BATCH="${BATCH:-8}"
LEN="${LEN:-128}"
STEPS="${STEPS:-3}"
FIXTURES="${FIXTURES:-../shared/fixtures/parity}"
DEVICE="${GPU_SMOKE_BACKEND:-gpu}"
TOL=1e-3
TSX=(node --import tsx)

no_gpu() { # no_gpu REASON: the normal outcome on a machine without a usable GPU
  echo
  echo "[gpu-smoke] NO GPU: $*"
  echo "[gpu-smoke] nothing to test here; environment.md ('Getting the GPU backend') says how to set one up."
  exit 0
}

if [ ! -d node_modules ]; then
  echo "[gpu-smoke] ERROR: node_modules missing: run npm install first" >&2
  exit 1
fi

echo "==== [gpu-smoke] bert-lab doctor"
"${TSX[@]}" src/app/cli.ts doctor || echo "[gpu-smoke] (doctor exited with $?)"

if [ "${GPU_SMOKE_FORCE:-0}" != "1" ]; then
  echo
  echo "==== [gpu-smoke] GPU"
  if command -v nvidia-smi >/dev/null 2>&1; then
    if ! nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; then
      no_gpu "nvidia-smi is installed but finds no GPU (driver not loaded?)"
    fi
  else
    no_gpu "nvidia-smi not found: no NVIDIA driver on this machine"
  fi
  if ! node -e "require.resolve('@tensorflow/tfjs-node-gpu')" >/dev/null 2>&1; then
    no_gpu "@tensorflow/tfjs-node-gpu is not installed (npm install @tensorflow/tfjs-node-gpu@4.22.0)"
  fi
  if ! err="$(node -e "require('@tensorflow/tfjs-node-gpu')" 2>&1)"; then
    no_gpu "@tensorflow/tfjs-node-gpu does not load (it needs CUDA 11.2 and cuDNN 8.1 on the loader path): $(echo "$err" | grep -m1 -i error)"
  fi
fi

FIX_ARGS=()
if [ -f "$FIXTURES/expected.json" ]; then
  FIX_ARGS=(--fixtures "$FIXTURES")
else
  echo "[gpu-smoke] parity fixtures not found at $FIXTURES: the PyTorch comparison is skipped"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for side in device cpu; do
  backend="$DEVICE"
  [ "$side" = cpu ] && backend=wasm
  echo
  echo "==== [gpu-smoke] $backend: fixture model forward+backward, bert-base training steps (batch $BATCH x $LEN)"
  if ! "${TSX[@]}" scripts/gpu-smoke.ts --backend "$backend" --out "$TMP/$side.json" "${FIX_ARGS[@]}" \
    --batch "$BATCH" --len "$LEN" --steps "$STEPS"; then
    echo "[gpu-smoke] FAILED: the $backend run stopped with an error (above)" >&2
    exit 1
  fi
done

echo
echo "==== [gpu-smoke] comparison (tolerance $TOL)"
node - "$TMP/device.json" "$TMP/cpu.json" "$TOL" <<'JS'
const fs = require('fs');
const [devFile, cpuFile, tolText] = process.argv.slice(2);
const dev = JSON.parse(fs.readFileSync(devFile, 'utf8'));
const cpu = JSON.parse(fs.readFileSync(cpuFile, 'utf8'));
const tol = Number(tolText);
let failed = 0;
const check = (what, diff) => {
  const ok = Number.isFinite(diff) && diff <= tol;
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${diff.toExponential(2)}`);
};
if (dev.fixture.maxAbsDiff) {
  for (const [k, d] of Object.entries(dev.fixture.maxAbsDiff)) check(`${dev.backend} vs PyTorch, fixture ${k} (max abs diff)`, d);
} else console.log(`skip fixture: ${dev.fixture.skipped}`);
const a = dev.bertBase, b = cpu.bertBase;
check(`bert-base first loss, ${dev.backend} vs ${cpu.backend} (abs diff)`, Math.abs(a.firstLoss - b.firstLoss));
check(`bert-base first gradient norm (relative diff)`, Math.abs(a.firstGradNorm - b.firstGradNorm) / Math.abs(b.firstGradNorm));
check(`bert-base logits after the step (max abs diff)`, Math.max(...a.logitsAfter.map((x, i) => Math.abs(x - b.logitsAfter[i]))));
const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const sd = median(a.secondsPerStep), sc = median(b.secondsPerStep);
console.log(`bert-base training step (batch ${a.batch} x ${a.len}): ${dev.backend} ${sd.toFixed(3)} s, ${cpu.backend} ${sc.toFixed(3)} s (median of ${a.secondsPerStep.length}); ${(sc / sd).toFixed(1)}x`);
console.log(failed ? `[gpu-smoke] FAILED: ${failed} check(s) outside ${tol}` : '[gpu-smoke] PASSED');
process.exit(failed ? 1 : 0);
JS
