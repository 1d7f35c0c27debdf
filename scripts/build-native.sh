#!/usr/bin/env bash
# Builds the optional OpenBLAS addon (native/ -> native/build/Release/blas.node) used by
# src/backend/accel.ts to speed up matmuls (OpenBLAS) and exp/erf (glibc's libmvec, looked up at run
# time; scalar libm without it) on the tfjs wasm backend. Builds only when a C++ compiler,
# make, Node's headers and OpenBLAS (cblas.h + libopenblas) are all present; otherwise says what
# is missing and exits 0, and bert-lab runs on plain wasm. Debian: apt-get install libopenblas-dev
# (or libopenblas-openmp-dev / libopenblas-pthread-dev). BERT_LAB_NATIVE_REQUIRE=1 turns a skip
# or a build failure into exit 1.
set -uo pipefail
cd "$(dirname "$0")/../native" || exit 0

skip() {
  echo "[build-native] skipped: $*" >&2
  if [ "${BERT_LAB_NATIVE_REQUIRE:-0}" = "1" ]; then exit 1; fi
  exit 0
}

CXX_BIN="${CXX:-c++}"
command -v "$CXX_BIN" >/dev/null 2>&1 || skip "no C++ compiler ($CXX_BIN)"
command -v make >/dev/null 2>&1 || skip "no make"
command -v python3 >/dev/null 2>&1 || skip "no python3 (node-gyp needs it)"

# Node headers: npm's nodedir if configured, else the usual system locations.
NODEDIR="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
[ "$NODEDIR" = "undefined" ] || [ "$NODEDIR" = "null" ] && NODEDIR=""
if [ -z "$NODEDIR" ]; then
  for d in /usr /usr/local "$(dirname "$(dirname "$(command -v node)")")"; do
    if [ -f "$d/include/node/node_api.h" ]; then NODEDIR="$d"; break; fi
  done
fi
[ -n "$NODEDIR" ] && [ -f "$NODEDIR/include/node/node_api.h" ] || skip "Node headers not found (node_api.h; set npm_config_nodedir)"

# OpenBLAS: cblas.h and libopenblas must be visible to the compiler; probe with a tiny program.
PROBE_DIR="$(mktemp -d)"
trap 'rm -rf "$PROBE_DIR"' EXIT
cat >"$PROBE_DIR/probe.cc" <<'CC'
#include <cblas.h>
extern "C" int openblas_get_parallel(void);
int main() { float a = 1, b = 2, c = 0; cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1); return (c == 2.f && openblas_get_parallel() >= 0) ? 0 : 1; }
CC
if ! "$CXX_BIN" -fopenmp "$PROBE_DIR/probe.cc" -o "$PROBE_DIR/probe" -lopenblas >"$PROBE_DIR/log" 2>&1; then
  skip "OpenBLAS headers/library not usable ($(grep -m1 -iE 'error|cannot find' "$PROBE_DIR/log" || echo 'compile failed')); install libopenblas-dev"
fi
"$PROBE_DIR/probe" || skip "OpenBLAS probe program gave a wrong result"

# node-gyp: npm's bundled copy, else npx.
NPM_BIN="$(command -v npm || true)"
GYP=""
if [ -n "$NPM_BIN" ]; then
  for c in "$(dirname "$(readlink -f "$NPM_BIN")")/../node_modules/node-gyp/bin/node-gyp.js" \
           "$(dirname "$NPM_BIN")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"; do
    if [ -f "$c" ]; then GYP="node $c"; break; fi
  done
fi
[ -n "$GYP" ] || { command -v npx >/dev/null 2>&1 && GYP="npx --no-install node-gyp"; }
[ -n "$GYP" ] || skip "node-gyp not found"

echo "[build-native] building with $GYP (nodedir=$NODEDIR)" >&2
if ! $GYP rebuild --nodedir="$NODEDIR" >"$PROBE_DIR/gyp.log" 2>&1; then
  tail -20 "$PROBE_DIR/gyp.log" >&2
  echo "[build-native] build FAILED; bert-lab falls back to plain wasm" >&2
  if [ "${BERT_LAB_NATIVE_REQUIRE:-0}" = "1" ]; then exit 1; fi
  exit 0
fi
if ! node -e "const b = require('./build/Release/blas.node'); const i = b.info(); console.error('[build-native] ok: ' + i.config.split(' ').slice(0, 2).join(' ') + ', ' + i.parallel + ', exp/erf ' + i.vmath)"; then
  echo "[build-native] built, but the addon does not load" >&2
  if [ "${BERT_LAB_NATIVE_REQUIRE:-0}" = "1" ]; then exit 1; fi
fi
exit 0
