// Differentiable building blocks with hand-written gradients. The wasm backend runs a plain
// matmul ~20x faster than one with a transposed operand, so every gradient here is arranged to
// use only plain matmuls (operands are transposed explicitly, which is a cheap copy).
import * as tf from '@tensorflow/tfjs';
import { nativeBlasEnabled } from './accel.js';

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
/** tf.customGrad with typed inputs: `f` gets the inputs and the save function. */
function custom<T extends tf.Tensor>(f: (xs: tf.Tensor[], save: tf.GradSaveFunc) => { value: T; gradFunc: GradFunc }) {
  return tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) =>
    f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc)) as Parameters<typeof tf.customGrad<T>>[0]);
}

/**
 * Gradients of a @ b (rank 2 or 3): [dy @ bᵀ, aᵀ @ dy]. Operands are transposed explicitly, a
 * cheap copy, unless the native kernels make a transposed operand free.
 */
function matmulGrads(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor[] {
  const mm = (x: tf.Tensor, y: tf.Tensor, tx = false, ty = false) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D, tx, ty);
  if (nativeBlasEnabled()) return [mm(dy, b, false, true), mm(a, dy, true, false)];
  const t = (x: tf.Tensor) => tf.transpose(x, x.rank === 3 ? [0, 2, 1] : [1, 0]);
  return [mm(dy, t(b)), mm(t(a), dy)];
}

/** a @ b (2-D, or batched 3-D) whose gradient never uses a transposed-operand wasm matmul. */
const matmul = custom(([a, b], save) => {
  save([a, b]);
  return { value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D), gradFunc: (dy, [sa, sb]) => matmulGrads(dy, sa, sb) };
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

/** x[..., in] @ kernel[in, out] + bias: a PyTorch Linear whose weight is held as its transpose. */
export function linear(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const x2d = tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
  const y: tf.Tensor = bias ? affine2d(x2d, kernel, bias) : matmul2d(x2d, kernel);
  return tf.reshape(y, [...lead, kernel.shape[1]]);
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Exact GELU, x * Φ(x) with Φ from erf, as torch.nn.functional.gelu (approximate='none'). */
export const gelu = custom(([x], save) => {
  const cdf = tf.tidy(() => tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, SQRT1_2)))));
  save([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    // d/dx x·Φ(x) = Φ(x) + x·φ(x)
    gradFunc: (dy, saved) => {
      const [sx, scdf] = saved;
      const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(sx))));
      return [tf.mul(dy, tf.add(scdf, tf.mul(sx, pdf)))];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm, with its gradient
 * written out: fewer kernels than autodiff, and the gamma/beta reductions as matmuls.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  const d = x.shape[x.shape.length - 1];
  const f = custom(([xi, g, b], save) => {
    const [xhat, rstd] = tf.tidy(() => {
      const { mean, variance } = tf.moments(xi, -1, true);
      const r = tf.rsqrt(tf.add(variance, eps));
      return [tf.mul(tf.sub(xi, mean), r), r];
    });
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, [xh, r, gs]) => {
        const dy2 = tf.reshape(dy, [-1, d]) as tf.Tensor2D;
        const dbeta = sumRows(dy2);
        const dgamma = sumRows(tf.reshape(tf.mul(dy, xh), [-1, d]) as tf.Tensor2D);
        // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma
        const dxhat = tf.mul(dy, gs);
        const m1 = tf.mean(dxhat, -1, true);
        const m2 = tf.mean(tf.mul(dxhat, xh), -1, true);
        const dx = tf.mul(r, tf.sub(tf.sub(dxhat, m1), tf.mul(xh, m2)));
        return [dx, dgamma, dbeta];
      },
    };
  }) as (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor;
  return f(x, gamma, beta);
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
  return tf.reshape(gatherRows(table, ids, paddingIdx), [...ids.shape, table.shape[1]]);
}

/** Dropout that is the identity outside training; `seed` makes masks reproducible. */
export function dropout(x: tf.Tensor, rate: number, training: boolean, seed?: number): tf.Tensor {
  return training && rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
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
