// Fused softmax cross-entropy with ignored targets and label smoothing.
// Kernels: native/src/crossentropy.cc.
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectDtype, expectRank, fmtShape } from './check.js';

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped: no loss, zero gradient (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** ε in (1−ε)·nll + ε·mean_v(−log p_v), as PyTorch's label_smoothing (default 0). */
  labelSmoothing?: number;
}

export interface CrossEntropyResult {
  /** Mean loss over the counted targets, shape [1] (0 when every target is ignored). */
  loss: Tensor;
  /** Number of targets that are not the ignore index: the weight of this loss when
   *  averaging over micro-batches by token. */
  count: number;
}

/**
 * Cross-entropy of logits: f32 [N, V] against targets: i32 [N], averaged over the targets
 * that are not ignored, together with their number.
 */
export function crossEntropyWithCount(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): CrossEntropyResult {
  const op = 'crossEntropy';
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const smoothing = opts.labelSmoothing ?? 0;
  expectDtype(op, 'logits', logits, 'f32');
  expectDtype(op, 'targets', targets, 'i32');
  expectRank(op, 'logits', logits, 2);
  expectRank(op, 'targets', targets, 1);
  const [N, V] = logits.shape;
  expect(targets.shape[0] === N, op, `targets ${fmtShape(targets.shape)} do not match logits ${fmtShape(logits.shape)}: expected [${N}]`);
  expect(N > 0 && V > 0, op, `logits ${fmtShape(logits.shape)} are empty`);
  expect(Number.isInteger(ignoreIndex) && Math.abs(ignoreIndex) < 2 ** 31, op, `ignoreIndex must be a 32-bit integer, got ${ignoreIndex}`);
  expect(Number.isFinite(smoothing) && smoothing >= 0 && smoothing <= 1, op, `labelSmoothing must be in [0, 1], got ${smoothing}`);

  const lse = empty([N]);
  const loss = empty([1]);
  const count = native.crossEntropyForward({ logits: logits.handle, targets: targets.handle, lse: lse.handle, loss: loss.handle,
    n: N, vocab: V, ignoreIndex, labelSmoothing: smoothing });
  record(op, [logits, targets], loss, (dloss, grad) => {
    const dlogits = grad(0);
    if (dlogits) {
      native.crossEntropyBackward({ dLoss: dloss.handle, logits: logits.handle, targets: targets.handle, lse: lse.handle,
        dLogits: dlogits.handle, n: N, vocab: V, ignoreIndex, labelSmoothing: smoothing, count, accumulate: dlogits.accumulate });
    }
  }, [lse]);
  return { loss, count };
}

/** Mean cross-entropy over the targets that are not ignored; see crossEntropyWithCount. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  return crossEntropyWithCount(logits, targets, opts).loss;
}

/** Number of targets (i32, any shape) that are not the ignore index. */
export function countTargets(targets: Tensor, ignoreIndex = -100): number {
  expectDtype('countTargets', 'targets', targets, 'i32');
  return native.crossEntropyCount({ targets: targets.handle, n: targets.size, ignoreIndex });
}
