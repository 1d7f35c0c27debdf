// Reverse-mode gradients over tfjs's tape that free memory as the backward pass goes, as PyTorch's
// autograd does. tf.variableGrads keeps every intermediate gradient and every tensor saved for the
// backward pass until the whole pass ends, so a training step's peak held the activations twice
// over. Here a node's saved tensors and its outputs' gradients are freed once the node is done.
import * as tf from '@tensorflow/tfjs-core';
import '../backend/gradients.js'; // every op's gradient (tfjs-core registers none itself)

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}
/** The parts of tfjs's Engine that tf.grads itself uses (present at run time, private in its types). */
interface EngineTape {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/** Nodes on a path from `xs` to `y`, each with only the inputs that lie on such a path. */
function pathNodes(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      nodeFromX.add(node.id);
      for (const o of node.outputs) fromX.add(o.id);
    }
  }
  const toY = new Set([y.id]);
  const kept: TapeNode[] = [];
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (!nodeFromX.has(node.id) || !node.outputs.some((o) => toY.has(o.id))) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) {
      if (fromX.has(t.id)) {
        inputs[name] = t;
        toY.add(t.id);
      }
    }
    kept.push({ ...node, inputs });
  }
  return kept.reverse();
}

/**
 * tf.variableGrads(f, vars), freeing as it goes: the value of `f` (a scalar) and the gradient of each
 * variable by name. Nested gradient computation falls back to tf.variableGrads.
 */
export function variableGrads(
  f: () => tf.Scalar,
  vars: tf.Variable[],
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const engine = tf.engine() as unknown as EngineTape;
  if (engine.state.gradientDepth > 0) return tf.variableGrads(f, vars);
  let y: tf.Tensor | undefined;
  try {
    y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor) || y.rank !== 0)
      throw new Error(
        `variableGrads: the loss must be a scalar tensor, got ${y instanceof tf.Tensor ? `shape [${y.shape}]` : typeof y}`,
      );
    const loss = y as tf.Scalar;
    const nodes = pathNodes(engine.state.activeTape ?? [], vars, loss);
    return engine.tidy('backward', () => {
      const grad = new Map<number, tf.Tensor>([[loss.id, tf.onesLike(loss)]]);
      const held = (t: tf.Tensor) => {
        for (const g of grad.values()) if (g === t) return true;
        return false;
      };
      for (let i = nodes.length - 1; i >= 0; i--) {
        const node = nodes[i];
        if (!node.gradient) throw new Error(`variableGrads: no gradient is defined for the kernel ${node.kernelName}`);
        const dys = node.outputs.map((o) => grad.get(o.id) ?? null);
        // One tidy per node: whatever the gradient function builds along the way is freed here.
        const dxs = tf.tidy(() => {
          const fns = node.gradient!(dys);
          const out: Record<string, tf.Tensor> = {};
          for (const name of Object.keys(node.inputs)) {
            if (!(name in fns))
              throw new Error(`variableGrads: the gradient of ${node.kernelName} has no entry for its input ${name}`);
            out[name] = fns[name]();
          }
          return out;
        });
        for (const o of node.outputs) grad.delete(o.id);
        for (const t of node.saved ?? []) t.dispose();
        const fresh = Object.values(dxs);
        for (const dy of dys) if (dy && !held(dy) && !fresh.includes(dy)) dy.dispose();
        for (const [k, [name, dx]] of Object.entries(dxs).entries()) {
          const x = node.inputs[name];
          if (dx.dtype !== 'float32')
            throw new Error(
              `variableGrads: the gradient of ${node.kernelName} for ${name} is ${dx.dtype}, not float32`,
            );
          if (!tf.util.arraysEqual(dx.shape, x.shape))
            throw new Error(
              `variableGrads: the gradient of ${node.kernelName} for ${name} has shape [${dx.shape}], its input [${x.shape}]`,
            );
          const prev = grad.get(x.id);
          if (!prev) {
            grad.set(x.id, dx);
            continue;
          }
          grad.set(x.id, tf.add(prev, dx));
          if (!held(prev)) prev.dispose();
          if (!held(dx) && !fresh.slice(k + 1).includes(dx)) dx.dispose();
        }
      }
      const grads: Record<string, tf.Tensor> = {};
      for (const v of vars) {
        const g = grad.get(v.id);
        if (g) grads[v.name] = g;
      }
      if (!Object.keys(grads).length) throw new Error('variableGrads: no variable is connected to the loss');
      return { value: loss, grads };
    });
  } catch (e) {
    y?.dispose();
    throw e;
  } finally {
    for (const node of engine.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
  }
}
