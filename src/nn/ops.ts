// Differentiable building blocks with hand-written gradients. The wasm backend runs a plain
// matmul ~20x faster than one with a transposed operand, so every gradient here is arranged to
// use only plain matmuls (operands are transposed explicitly, which is a cheap copy). Each op keeps
// only what its backward pass needs, and LayerNorm, GELU, the attention softmax and dropout run as
// one native pass each where the accelerator is built (tfjs ops otherwise).
import * as tf from '@tensorflow/tfjs-core';
import { FUSED, nativeBlasEnabled, nativeFused, nativeOptim, type FusedOp } from '../backend/accel.js';
import { heapOffset, wasmInternals } from '../backend/wasm.js';

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
/** tf.customGrad with typed inputs: `f` gets the inputs and the save function. */
function custom<T extends tf.Tensor>(f: (xs: tf.Tensor[], save: tf.GradSaveFunc) => { value: T; gradFunc: GradFunc }) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) =>
    f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc),
  );
}

/**
 * Runs a native fused kernel (native/fused.h) when the accelerator is built and every input is a
 * float32 tensor on the wasm heap: allocates the outputs, passes the kernel byte offsets, returns
 * the outputs as tensors. Undefined otherwise, and the caller uses tfjs ops.
 */
function fusedKernel(
  op: FusedOp,
  inputs: tf.Tensor[],
  outShapes: number[][],
  args: (off: (t: tf.TensorInfo) => number, outs: tf.TensorInfo[]) => number[],
): tf.Tensor[] | undefined {
  const native = nativeFused(),
    wasm = native && wasmInternals();
  if (!native || !wasm || inputs.some((t) => t.dtype !== 'float32' && !(op === FUSED.maskScale && t.dtype === 'bool')))
    return undefined;
  const outs = outShapes.map((shape) => wasm.makeOutput(shape, 'float32'));
  // Offsets and the heap view only after every allocation: one may grow (move) the heap.
  native.fused(op, wasm.wasm.HEAPU8, ...args((t) => heapOffset(wasm, t), outs));
  return outs.map((o) => tf.engine().makeTensorFromTensorInfo(o));
}

/**
 * Gradients of a @ b (rank 2 or 3): [dy @ bᵀ, aᵀ @ dy]. Operands are transposed explicitly, a
 * cheap copy, unless the native kernels make a transposed operand free.
 */
function matmulGrads(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor[] {
  const mm = (x: tf.Tensor, y: tf.Tensor, tx = false, ty = false) => tf.matMul(x, y, tx, ty);
  if (nativeBlasEnabled()) return [mm(dy, b, false, true), mm(a, dy, true, false)];
  const t = (x: tf.Tensor) => tf.transpose(x, x.rank === 3 ? [0, 2, 1] : [1, 0]);
  return [mm(dy, t(b)), mm(t(a), dy)];
}

/** a @ b (2-D, or batched 3-D) whose gradient never uses a transposed-operand wasm matmul. */
const matmul = custom(([a, b], save) => {
  save([a, b]);
  return { value: tf.matMul(a, b), gradFunc: (dy, [sa, sb]) => matmulGrads(dy, sa, sb) };
});
export const matmul2d = matmul as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
export const bmm = matmul as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/**
 * Sum over rows of dy[n, out] as ones[1, n] @ dy: a plain matmul, where the reduction kernel
 * along axis 0 is several times slower on wasm.
 */
function sumRows(dy: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(tf.ones([1, dy.shape[0]]), dy), [dy.shape[1]]) as tf.Tensor1D;
}

/** x[n, in] @ kernel[in, out] + bias[out], with the bias gradient as a matmul too. */
const affine2d = custom(([x, k, b], save) => {
  save([x, k]);
  return {
    value: tf.add(tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D), b),
    gradFunc: (dy, [sx, sk]) => [...matmulGrads(dy, sx, sk), sumRows(dy as tf.Tensor2D)],
  };
}) as (x: tf.Tensor2D, k: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * tf.reshape whose backward pass keeps nothing: tf.reshape's gradient keeps its input alive (for
 * its shape), which held an extra copy of every attention projection until the backward pass.
 */
export function view(x: tf.Tensor, shape: number[]): tf.Tensor {
  const from = x.shape;
  return custom(([xi]) => ({ value: tf.reshape(xi, shape), gradFunc: (dy) => [tf.reshape(dy, from)] }))(x);
}

/** x[..., in] @ kernel[in, out] + bias: a PyTorch Linear whose weight is held as its transpose. */
export function linear(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const x2d = view(x, [-1, inDim]) as tf.Tensor2D;
  const y: tf.Tensor = bias ? affine2d(x2d, kernel, bias) : matmul2d(x2d, kernel);
  return view(y, [...lead, kernel.shape[1]]);
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Exact GELU, x * Φ(x) with Φ from erf, as torch.nn.functional.gelu (approximate='none'). */
export const gelu = custom(([x], save) => {
  // Only x is kept for the backward pass, Φ is recomputed there: the intermediate activations are
  // the largest a layer has.
  save([x]);
  const cdf = (v: tf.Tensor) => tf.mul(0.5, tf.add(1, tf.erf(tf.mul(v, SQRT1_2))));
  const n = x.size;
  return {
    value:
      fusedKernel(FUSED.gelu, [x], [x.shape], (o, [y]) => [o(x), o(y), n])?.[0] ?? tf.tidy(() => tf.mul(x, cdf(x))),
    // d/dx x·Φ(x) = Φ(x) + x·φ(x)
    // (step by step, so no more than three intermediate-sized temporaries are alive at once)
    gradFunc: (dy, [sx]) => {
      const fused = fusedKernel(FUSED.geluBackward, [sx, dy], [sx.shape], (o, [dx]) => [o(sx), o(dy), o(dx), n]);
      if (fused) return fused;
      const xpdf = tf.tidy(() => tf.mul(sx, tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(sx))))));
      const slope = tf.tidy(() => tf.add(cdf(sx), xpdf));
      xpdf.dispose();
      return [tf.mul(dy, slope)];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm, of `x` (+ `residual`,
 * same shape), with its gradient written out: fewer kernels than autodiff, the gamma/beta
 * reductions as matmuls, and only the normalised input kept for the backward pass.
 */
export function layerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  residual?: tf.Tensor,
): tf.Tensor {
  const d = x.shape[x.shape.length - 1];
  const rows = x.size / d;
  const statShape = [...x.shape.slice(0, -1), 1];
  const f = custom((inputs, save) => {
    const [g, b] = inputs.slice(-2);
    const withResidual = inputs.length === 4;
    const fused = fusedKernel(FUSED.layerNorm, inputs, [x.shape, x.shape, statShape], (o, [y, xh, rs]) => [
      o(inputs[0]),
      withResidual ? o(inputs[1]) : -1,
      o(g),
      o(b),
      o(y),
      o(xh),
      o(rs),
      rows,
      d,
      eps,
    ]);
    const [value, xhat, rstd] =
      fused ??
      tf.tidy(() => {
        const xi = withResidual ? tf.add(inputs[0], inputs[1]) : inputs[0];
        const { mean, variance } = tf.moments(xi, -1, true);
        const r = tf.rsqrt(tf.add(variance, eps));
        const xh = tf.mul(tf.sub(xi, mean), r);
        return [tf.add(tf.mul(xh, g), b), xh, r];
      });
    save([xhat, rstd, g]);
    return {
      value,
      gradFunc: (dy, [xh, r, gs]) => {
        const grads =
          fusedKernel(FUSED.layerNormBackward, [dy, xh, r, gs], [x.shape, [d], [d]], (o, [dx, dg, db]) => [
            o(dy),
            o(xh),
            o(r),
            o(gs),
            o(dx),
            o(dg),
            o(db),
            rows,
            d,
          ]) ??
          tf.tidy(() => {
            const dy2 = tf.reshape(dy, [-1, d]) as tf.Tensor2D;
            const dbeta = sumRows(dy2);
            const dgamma = sumRows(tf.reshape(tf.mul(dy, xh), [-1, d]) as tf.Tensor2D);
            // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma
            const dxhat = tf.mul(dy, gs);
            const m1 = tf.mean(dxhat, -1, true);
            const m2 = tf.mean(tf.mul(dxhat, xh), -1, true);
            return [tf.mul(r, tf.sub(tf.sub(dxhat, m1), tf.mul(xh, m2))), dgamma, dbeta];
          });
        const [dx, dgamma, dbeta] = grads;
        return withResidual ? [dx, tf.clone(dx), dgamma, dbeta] : [dx, dgamma, dbeta];
      },
    };
  }) as (...xs: tf.Tensor[]) => tf.Tensor;
  if (residual && !tf.util.arraysEqual(residual.shape, x.shape))
    throw new Error(`layerNorm: residual [${residual.shape}] and input [${x.shape}] differ in shape`);
  return residual ? f(x, residual, gamma, beta) : f(x, gamma, beta);
}

/**
 * softmax(scores / divisor + additiveMask) over the last axis (BERT's attention probabilities). The
 * backward pass needs only the probabilities: dscores = p * (dy - sum(dy * p)) / divisor.
 */
export function attentionProbs(scores: tf.Tensor, additiveMask: tf.Tensor, divisor: number): tf.Tensor {
  const [b, nh, t, t2] = scores.shape;
  // The fused kernel takes one additive mask row per batch item: [b, 1, 1, t].
  const oneRowMask = scores.rank === 4 && tf.util.arraysEqual(additiveMask.shape, [b, 1, 1, t2]);
  const f = custom(([s], save) => {
    const fused = oneRowMask
      ? fusedKernel(FUSED.softmax, [s, additiveMask], [s.shape], (o, [p]) => [
          o(s),
          o(additiveMask),
          o(p),
          b,
          nh * t,
          t2,
          divisor,
        ])
      : undefined;
    const probs = fused?.[0] ?? tf.tidy(() => tf.softmax(tf.add(tf.div(s, divisor), additiveMask)));
    save([probs]);
    return {
      value: probs,
      gradFunc: (dy, [p]) =>
        fusedKernel(FUSED.softmaxBackward, [p, dy], [p.shape], (o, [ds]) => [
          o(p),
          o(dy),
          o(ds),
          p.size / p.shape[p.rank - 1],
          p.shape[p.rank - 1],
          divisor,
        ]) ?? [tf.div(tf.mul(p, tf.sub(dy, tf.sum(tf.mul(dy, p), -1, true))), divisor)],
    };
  });
  return f(scores);
}

/**
 * Rows `ids` of `table`, whose gradient skips `paddingIdx` as nn.Embedding(padding_idx=...) does
 * (the padding row never changes through the loss). The gradient sums rows with ScatterNd:
 * UnsortedSegmentSum, which tf.gather's own gradient uses, has no wasm kernel.
 */
export function gatherRows(table: tf.Tensor2D, ids: tf.Tensor, paddingIdx?: number): tf.Tensor2D {
  const flat = tf.reshape(ids, [-1]) as tf.Tensor1D;
  const lookup = custom(([t], save) => {
    save([flat]); // closures over tensors do not survive the tape's tidy; saved ones do
    return {
      value: tf.gather(t as tf.Tensor2D, flat),
      gradFunc: (dy, [idx]) => {
        let g = dy as tf.Tensor2D;
        if (paddingIdx !== undefined && paddingIdx >= 0) {
          g = tf.mul(g, tf.expandDims(tf.cast(tf.notEqual(idx, paddingIdx), 'float32'), 1));
        }
        return [tf.scatterND(tf.expandDims(idx, 1), g, t.shape)];
      },
    };
  }) as (t: tf.Tensor2D) => tf.Tensor2D;
  return lookup(table);
}

/** Embedding lookup: ids [...] -> [..., dim]. */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor, paddingIdx?: number): tf.Tensor {
  return view(gatherRows(table, ids, paddingIdx), [...ids.shape, table.shape[1]]);
}

/**
 * A keep-mask for dropout: each element kept (true) with probability 1 - rate, from `seed` (random
 * when absent); the rate is rounded to a multiple of 2^-16. Draws are 16-bit halves of a counter
 * hash, h(k) = fmix32(k * 0x9e3779b9 + seed): the native addon computes the same bits in a
 * fraction of the time (tf.randomUniform and a comparison took twice as long as this JS loop).
 */
export function dropoutMask(shape: number[], rate: number, seed?: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const threshold = Math.min(65536, Math.max(0, Math.round(rate * 65536)));
  const s = (seed ?? Math.floor(Math.random() * 4294967296)) >>> 0;
  const native = nativeOptim(),
    wasm = native && wasmInternals();
  if (native && wasm && n > 0) {
    const info = wasm.makeOutput(shape, 'bool');
    native.dropoutMask(wasm.wasm.HEAPU8, heapOffset(wasm, info), n, s, threshold);
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const out = new Uint8Array(n);
  for (let i = 0, k = 0; i < n; i += 2, k++) {
    let x = (Math.imul(k, 0x9e3779b9) + s) | 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    out[i] = (x & 0xffff) >= threshold ? 1 : 0;
    if (i + 1 < n) out[i + 1] = x >>> 16 >= threshold ? 1 : 0;
  }
  return tf.tensor(out, shape, 'bool');
}

/**
 * Dropout that is the identity outside training; `seed` makes masks reproducible. Kept elements are
 * scaled by 1 / (1 - rate), as torch.nn.Dropout; the backward pass keeps only the mask, a byte each.
 */
export function dropout(x: tf.Tensor, rate: number, training: boolean, seed?: number): tf.Tensor {
  if (!training || !(rate > 0)) return x;
  if (rate >= 1) return tf.zerosLike(x);
  const keep = 1 - rate;
  const f = custom(([xi], save) => {
    const mask = dropoutMask(xi.shape, rate, seed);
    save([mask]);
    const scaled = (t: tf.Tensor, m: tf.Tensor) =>
      fusedKernel(FUSED.maskScale, [t, m], [t.shape], (o, [y]) => [o(t), o(m), o(y), t.size, 1 / keep])?.[0] ??
      tf.tidy(() => tf.mul(t, tf.div(tf.cast(m, 'float32'), keep)));
    return { value: scaled(xi, mask), gradFunc: (dy, [m]) => [scaled(dy, m)] };
  });
  return f(x);
}

/**
 * Mean cross-entropy of logits[n, c] against integer labels, ignoring label -100 like
 * torch.nn.CrossEntropyLoss(ignore_index=-100). Returns a scalar.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const valid = tf.cast(tf.notEqual(labels, -100), 'float32');
  const safe = tf.where(tf.notEqual(labels, -100), labels, tf.zerosLike(labels)) as tf.Tensor1D;
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(tf.cast(safe, 'int32') as tf.Tensor1D, logits.shape[1]);
  const nll = tf.neg(tf.sum(tf.mul(logp, onehot), -1));
  return tf.div(tf.sum(tf.mul(nll, valid)), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
}

/** Mean squared error over every element, as torch.nn.MSELoss(): `predictions` and `targets` of one shape. */
export function mseLoss(predictions: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(tf.squaredDifference(predictions, targets)) as tf.Scalar;
}

/**
 * Mean binary cross-entropy of logits against 0/1 (or soft) targets of the same shape, as
 * torch.nn.BCEWithLogitsLoss(): max(x, 0) - x*y + log(1 + exp(-|x|)), stable for large |x|.
 */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(
    tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits))))),
  ) as tf.Scalar;
}
