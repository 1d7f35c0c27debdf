// Symmetric int8 quantization of a weight matrix with one scale per output channel, the scheme of
// ONNX Runtime's dynamic quantization for MatMul weights (per_channel=True, symmetric int8).
// One scale per channel keeps a channel with small weights from losing its precision to a
// channel with large ones.

export interface QuantizedMatrix {
  /** int8 values, same layout as the input. */
  q: Int8Array;
  /** One scale per channel: value = q * scale. */
  scales: Float32Array;
}

/**
 * Quantizes a row-major [rows, cols] matrix to int8 with one scale per column (`axis` 1) or per
 * row (`axis` 0). Values map to [-127, 127] (not -128), so the range is symmetric around 0.
 *
 * Args:
 *   data: the matrix, row-major.
 *   rows, cols: its shape.
 *   axis: 1 for per-column scales (a MatMul weight held [in, out]), 0 for per-row (an embedding table).
 *
 * Example:
 *   const { q, scales } = quantizeInt8(w, 768, 3072, 1); // w ≈ q[i*3072+j] * scales[j]
 */
export function quantizeInt8(data: Float32Array, rows: number, cols: number, axis: 0 | 1): QuantizedMatrix {
  if (data.length !== rows * cols)
    throw new Error(`quantizeInt8: ${data.length} values do not make a [${rows}, ${cols}] matrix`);
  const channels = axis === 1 ? cols : rows;
  const maxAbs = new Float32Array(channels);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = Math.abs(data[i * cols + j]);
      if (!Number.isFinite(v))
        throw new Error(`quantizeInt8: value [${i}, ${j}] is ${data[i * cols + j]}; weights must be finite`);
      const c = axis === 1 ? j : i;
      if (v > maxAbs[c]) maxAbs[c] = v;
    }
  }
  // An all-zero channel gets scale 1, so dequantization stays finite (and gives zeros).
  const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(data.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const s = scales[axis === 1 ? j : i];
      q[i * cols + j] = Math.max(-127, Math.min(127, roundHalfEven(data[i * cols + j] / s)));
    }
  }
  return { q, scales };
}

/** Rounds to the nearest integer, ties to even (numpy.rint), so that ties are not biased upwards. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
