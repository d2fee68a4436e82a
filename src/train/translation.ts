// `tlc pretrain --objective seq2seq`: an encoder–decoder trained on translation pairs
// under a budget, by teacher forcing with label-smoothed cross-entropy, in the same loop,
// with the same budgets, schedules, checkpoints and resume as the language models.
// Evaluations report the validation loss (plain negative log-likelihood per target token)
// and BLEU of greedy translations of a fixed subset of the validation pairs.
import { TlcError } from '../util/errors.js';
import { validationLossSteps } from './validation.js';
import { countParams, seq2seqTrainingFlops } from '../nn/config.js';
import { Seq2SeqTransformer, type Seq2SeqBatch } from '../nn/seq2seq.js';
import { IGNORE_INDEX } from '../nn/transformer.js';
import { EOS_ID } from '../data/tokenizer.js';
import { readPreparedTranslation } from '../data/prepare-translation.js';
import { copyFileAtomic } from '../util/atomic.js';
import { writesRuns } from '../run/rank.js';
import { corpusBleu } from '../translate/bleu.js';
import { decodeSourcesSteps } from '../translate/decode.js';
import { unigramLoss } from './baselines.js';
import { encodePairs, evaluationPairBatches, PairBatcher, type EncodedPairs, type PairBatcherPosition } from './seq2seq-batches.js';
import { trainLoop } from './loop.js';
import type { PretrainArgs } from './args.js';
import type { PretrainEvents, PretrainResult } from './outcome.js';
import { runFile } from '../run/layout.js';

/** Source and target tokens of each row of a batch (the target counted with its </s>). */
function rowTokens(b: Seq2SeqBatch): { source: number[]; target: number[] } {
  const source: number[] = [], target: number[] = [];
  for (let r = 0; r < b.batchSize; r++) {
    let s = 0, t = 0;
    for (let j = 0; j < b.sourceLen; j++) s += b.sourceMask[r * b.sourceLen + j];
    for (let j = 0; j < b.targetLen; j++) if (b.targets![r * b.targetLen + j] !== IGNORE_INDEX) t++;
    source.push(s);
    target.push(t);
  }
  return { source, target };
}

export async function trainTranslation(runDir: string, args: PretrainArgs, resumed: boolean, events: PretrainEvents,
  signal?: AbortSignal): Promise<PretrainResult> {
  const cfg = args.model;
  const data = readPreparedTranslation(args.dataDir);
  if (data.tokenizer.vocabSize > cfg.vocab_size) {
    throw new TlcError(`${args.dataDir}: the data's vocabulary (${data.tokenizer.vocabSize}) is larger than the model's vocab_size (${cfg.vocab_size})`);
  }
  const labelSmoothing = args.labelSmoothing;
  const bleuPairs = Math.min(args.bleuPairs, data.valid.length);
  if (writesRuns()) copyFileAtomic(data.tokenizerPath, runFile(runDir, 'tokenizer'));
  const train = encodePairs(data.train, data.tokenizer, args.seqLen);
  const valid = encodePairs(data.valid, data.tokenizer, args.seqLen);
  const batcher = new PairBatcher(train, args.microBatchSize, args.seed);
  const evalSet = evaluationPairBatches(valid, args.evalTokens, args.microBatchSize);
  const bleuSources = valid.sources.slice(0, bleuPairs);
  const bleuReferences = data.valid.slice(0, bleuPairs).map((p) => p.target);
  const model = new Seq2SeqTransformer(cfg, { seed: args.seed });
  try {
    const result = await trainLoop<Seq2SeqBatch>(runDir, { ...args, microBatches: args.batchSize / args.microBatchSize }, {
      model,
      nextBatch: () => batcher.next(),
      loss: (b) => model.loss(b, { training: true, labelSmoothing }).loss,
      cost: (b) => {
        const rows = rowTokens(b);
        let tokens = 0, flops = 0, weight = 0;
        rows.source.forEach((s, r) => {
          const t = rows.target[r];
          tokens += s + t;
          weight += t;
          flops += seq2seqTrainingFlops(cfg, s, t);
        });
        return { tokens, flops, weight };
      },
      evaluate: function* () {
        const metrics: Record<string, number> = yield* validationLossSteps(evalSet, (b) => model.loss(b, { training: false }));
        if (bleuPairs > 0) {
          const hyps = (yield* decodeSourcesSteps(model, bleuSources, { beamSize: 1, batchSize: args.microBatchSize }))
            .map((h) => data.tokenizer.decode(h.tokens, { skipSpecialTokens: true }));
          metrics.valid_bleu = corpusBleu(hyps, [bleuReferences], { force: true }).score;
        }
        return metrics;
      },
      get dataPosition(): unknown {
        return batcher.position;
      },
      set dataPosition(p: unknown) {
        batcher.position = p as PairBatcherPosition;
      },
      describe: () => ({
        objective: cfg.objective, non_embedding_params: countParams(cfg).nonEmbedding, flops_per_token: meanFlopsPerToken(cfg, train),
        unigram_valid_loss: targetUnigramLoss(train, evalSet, cfg.vocab_size),
        train_pairs: train.sources.length, valid_pairs: valid.sources.length, bleu_pairs: bleuPairs, label_smoothing: labelSmoothing,
      }),
    }, resumed, events, signal);
    return {
      runDir, steps: result.steps, usage: result.usage, finalValidLoss: result.lastEval.valid_loss ?? NaN,
      finalValidBleu: result.lastEval.valid_bleu, interrupted: result.interrupted,
    };
  } finally {
    model.dispose();
  }
}

/** Training FLOPs per token (source and target) averaged over the training pairs. */
function meanFlopsPerToken(cfg: PretrainArgs['model'], data: EncodedPairs): number {
  let flops = 0, tokens = 0;
  data.sources.forEach((x, i) => {
    const S = x.length, T = data.targets[i].length + 1;
    flops += seq2seqTrainingFlops(cfg, S, T);
    tokens += S + T;
  });
  return flops / tokens;
}

/** The loss of predicting validation targets from the training targets' unigram distribution. */
function targetUnigramLoss(train: EncodedPairs, evalSet: Seq2SeqBatch[], vocabSize: number): number {
  const n = train.targets.reduce((a, y) => a + y.length + 1, 0);
  const tokens = new Uint32Array(n);
  let k = 0;
  for (const y of train.targets) {
    tokens.set(y, k);
    k += y.length;
    tokens[k++] = EOS_ID;
  }
  return unigramLoss(tokens, evalSet.map((b) => ({ batchSize: b.batchSize, seqLen: b.targetLen, inputIds: b.decoderInputIds, targets: b.targets })), vocabSize);
}
