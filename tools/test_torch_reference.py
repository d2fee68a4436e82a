#!/usr/bin/python3
"""Checks for tools/torch_reference.py:  /usr/bin/python3 tools/test_torch_reference.py

- the safetensors reader/writer round-trips every dtype, a scalar and an empty tensor;
- the model matches an independent build from torch.nn.TransformerEncoderLayer (pre- and
  post-LN, both activations, padding and causal masks), so the qkv layout and block order
  are the ones torch itself uses;
- a query whose keys are all masked gives finite outputs and gradients;
- the encoder–decoder matches one built from torch.nn.TransformerEncoderLayer and
  TransformerDecoderLayer (pre-LN, source padding, causal target);
- end to end on four configurations: initial loss ≈ ln V, every gradient non-zero, the loss
  falls over the AdamW steps, and the output file holds every expected tensor;
- with grads.safetensors the AdamW steps take its gradients (the model's own give the free
  run's result bit for bit) and a mismatched file is refused;
- mismatched weights fail with a clear message.
"""

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

BASE = {"vocab_size": 512, "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256, "max_len": 64,
        "layer_norm_eps": 1e-5, "dropout": 0, "tie_embeddings": True}
CONFIGS = {
    "mlm-pre-gelu": {**BASE, "objective": "mlm", "norm": "pre", "activation": "gelu"},
    "clm-pre-gelu_tanh": {**BASE, "objective": "clm", "norm": "pre", "activation": "gelu_tanh"},
    "mlm-post-gelu": {**BASE, "objective": "mlm", "norm": "post", "activation": "gelu"},
}
SEQ2SEQ = {**BASE, "objective": "seq2seq", "n_decoder_layers": 3, "norm": "pre", "activation": "gelu"}


def make_dir(tmp, name, cfg, seed=1):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    with contextlib.redirect_stdout(io.StringIO()):
        assert ref.main(["--init", d, "--seed", str(seed)]) == 0
    return d


def independent_logits(model, cfg, ids, mask):
    """The same network assembled from torch.nn.TransformerEncoderLayer with copied weights."""
    act = ref.activation_fn(cfg["activation"])
    B, T = ids.shape
    x = model.tok_emb(ids) + model.pos_emb.weight[:T]
    if cfg["norm"] == "post":
        x = model.emb_ln(x)
    causal = None
    if cfg["objective"] == "clm":
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may not attend
    for blk in model.blocks:
        layer = nn.TransformerEncoderLayer(cfg["d_model"], cfg["n_heads"], cfg["d_ff"], dropout=0.0,
                                           activation=act, layer_norm_eps=cfg["layer_norm_eps"],
                                           batch_first=True, norm_first=cfg["norm"] == "pre")
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(blk.attn.qkv.weight)
            layer.self_attn.in_proj_bias.copy_(blk.attn.qkv.bias)
            layer.self_attn.out_proj.weight.copy_(blk.attn.out.weight)
            layer.self_attn.out_proj.bias.copy_(blk.attn.out.bias)
            for dst, src in ((layer.linear1, blk.mlp.fc1), (layer.linear2, blk.mlp.fc2),
                             (layer.norm1, blk.ln1), (layer.norm2, blk.ln2)):
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
        x = layer(x, src_mask=causal, src_key_padding_mask=~mask)
    if cfg["norm"] == "pre":
        x = model.ln_f(x)
    if cfg["objective"] == "mlm":
        h = F.layer_norm(act(F.linear(x, model.lm_head.dense.weight, model.lm_head.dense.bias)), (cfg["d_model"],),
                         model.lm_head.ln.weight, model.lm_head.ln.bias, cfg["layer_norm_eps"])
        return h @ model.tok_emb.weight.t() + model.lm_head.bias
    return x @ model.tok_emb.weight.t()


def copy_linear_norm(pairs):
    with torch.no_grad():
        for dst, src in pairs:
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)


def independent_seq2seq_logits(model, cfg, src, src_mask, dec):
    """The encoder–decoder assembled from torch.nn.TransformerEncoderLayer and TransformerDecoderLayer."""
    act = ref.activation_fn(cfg["activation"])
    C, H, Fd, eps = cfg["d_model"], cfg["n_heads"], cfg["d_ff"], cfg["layer_norm_eps"]
    S, T = src.shape[1], dec.shape[1]
    x = model.tok_emb(src) + model.pos_emb.weight[:S]
    for blk in model.blocks:
        layer = nn.TransformerEncoderLayer(C, H, Fd, dropout=0.0, activation=act, layer_norm_eps=eps, batch_first=True, norm_first=True)
        copy_linear_norm(((layer.linear1, blk.mlp.fc1), (layer.linear2, blk.mlp.fc2), (layer.norm1, blk.ln1), (layer.norm2, blk.ln2)))
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(blk.attn.qkv.weight)
            layer.self_attn.in_proj_bias.copy_(blk.attn.qkv.bias)
            layer.self_attn.out_proj.weight.copy_(blk.attn.out.weight)
            layer.self_attn.out_proj.bias.copy_(blk.attn.out.bias)
        x = layer(x, src_key_padding_mask=~src_mask)
    memory = model.ln_f(x)
    y = model.tok_emb(dec) + model.dec_pos_emb.weight[:T]
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may not attend
    for blk in model.dec_blocks:
        layer = nn.TransformerDecoderLayer(C, H, Fd, dropout=0.0, activation=act, layer_norm_eps=eps, batch_first=True, norm_first=True)
        copy_linear_norm(((layer.linear1, blk.mlp.fc1), (layer.linear2, blk.mlp.fc2),
                          (layer.norm1, blk.ln1), (layer.norm2, blk.ln2), (layer.norm3, blk.ln3)))
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(blk.self_attn.qkv.weight)
            layer.self_attn.in_proj_bias.copy_(blk.self_attn.qkv.bias)
            layer.self_attn.out_proj.weight.copy_(blk.self_attn.out.weight)
            layer.self_attn.out_proj.bias.copy_(blk.self_attn.out.bias)
            layer.multihead_attn.in_proj_weight.copy_(torch.cat([blk.cross_attn.q.weight, blk.cross_attn.kv.weight]))
            layer.multihead_attn.in_proj_bias.copy_(torch.cat([blk.cross_attn.q.bias, blk.cross_attn.kv.bias]))
            layer.multihead_attn.out_proj.weight.copy_(blk.cross_attn.out.weight)
            layer.multihead_attn.out_proj.bias.copy_(blk.cross_attn.out.bias)
        y = layer(y, memory, tgt_mask=causal, memory_key_padding_mask=~src_mask)
    return model.dec_ln_f(y) @ model.tok_emb.weight.t()


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        tensors = {
            "a.f32": torch.randn(3, 5),
            "b.i32": torch.tensor([[-100, 5], [7, 2**31 - 1]], dtype=torch.int32),
            "c.u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
            "d.bf16": torch.randn(7).to(torch.bfloat16),
            "e.i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
            "scalar": torch.tensor(2.5),
            "empty": torch.zeros(0, 4),
            "f.i64": torch.tensor([1, -2], dtype=torch.int64),
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x.safetensors")
            ref.write_safetensors(path, tensors, {"k": "v"})
            back, meta = ref.read_safetensors(path)
            self.assertEqual(meta, {"k": "v"})
            self.assertEqual(sorted(back), sorted(tensors))
            for name, t in tensors.items():
                self.assertEqual(back[name].dtype, t.dtype, name)
                self.assertEqual(list(back[name].shape), list(t.shape), name)
                self.assertTrue(torch.equal(back[name], t), name)
            with open(path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
                header = f.read(n)
            self.assertEqual(n % 8, 0)
            keys = list(json.loads(header))
            self.assertEqual(keys, ["__metadata__"] + sorted(tensors))
            self.assertEqual(os.listdir(tmp), ["x.safetensors"])  # no temporary file left

    def test_corrupt_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.safetensors")
            with open(path, "wb") as f:
                f.write(b"\x05\x00")
            with self.assertRaisesRegex(ref.ReferenceError, "shorter than"):
                ref.read_safetensors(path)


class ModelTest(unittest.TestCase):
    def test_matches_torch_transformer_encoder_layer(self):
        torch.manual_seed(0)
        for name, cfg in CONFIGS.items():
            for act in ("gelu", "gelu_tanh"):
                c = {**cfg, "activation": act}
                model = ref.Transformer(c)
                ref.init_weights(model, 3)
                with torch.no_grad():  # non-trivial LayerNorm parameters and biases too
                    for p in model.parameters():
                        if p.dim() == 1:
                            p.add_(torch.randn(p.shape) * 0.1)
                batch = ref.random_batch(c, 5, 4, 32)
                ids, mask = batch["input_ids"].long(), batch["attention_mask"].bool()
                self.assertFalse(mask.all())  # padding is exercised
                ours = model(ids, mask)
                theirs = independent_logits(model, c, ids, mask)
                err = (ours - theirs).abs().max().item()
                self.assertLess(err, 1e-4, f"{name} {act}: max |diff| {err}")

    def test_seq2seq_matches_torch_transformer_layers(self):
        torch.manual_seed(0)
        model = ref.Seq2Seq(ref.load_config_dict(SEQ2SEQ))
        ref.init_weights(model, 6)
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 1:
                    p.add_(torch.randn(p.shape) * 0.1)
        batch = ref.random_seq2seq_batch(SEQ2SEQ, 7, 4, 24)
        src, mask, dec = batch["source_ids"].long(), batch["source_mask"].bool(), batch["decoder_input_ids"].long()
        self.assertFalse(mask.all())
        self.assertTrue((batch["targets"] == -100).any())
        ours = model(src, mask, dec)
        theirs = independent_seq2seq_logits(model, SEQ2SEQ, src, mask, dec)
        err = (ours - theirs).abs().max().item()
        self.assertLess(err, 1e-4, f"max |diff| {err}")

    def test_query_with_every_key_masked(self):
        cfg = CONFIGS["mlm-pre-gelu"]
        model = ref.Transformer(cfg)
        ref.init_weights(model, 4)
        ids = torch.randint(2, 512, (2, 8))
        mask = torch.ones(2, 8, dtype=torch.bool)
        mask[1] = False  # sequence 1 is all padding: none of its queries has a key
        targets = torch.full((2, 8), -100)
        targets[0, 3] = 9
        logits = model(ids, mask)
        loss = ref.loss_fn(logits, targets)
        loss.backward()
        self.assertTrue(torch.isfinite(logits).all())
        for n, p in model.named_parameters():
            self.assertTrue(torch.isfinite(p.grad).all(), n)
        # The attention of such a query is 0, so the block's attention output is just out.bias.
        attn = model.blocks[0].attn
        allowed = mask[:, None, :].expand(2, 8, 8)
        a = attn(torch.randn(2, 8, 64), allowed)
        self.assertTrue(torch.allclose(a[1], attn.out.bias.expand(8, 64)))


class EndToEndTest(unittest.TestCase):
    def test_configs(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name, cfg in CONFIGS.items():
                with self.subTest(name):
                    d = make_dir(tmp, name, cfg)
                    with contextlib.redirect_stdout(io.StringIO()):
                        self.assertEqual(ref.main([d]), 0)
                    out, meta = ref.read_safetensors(os.path.join(d, "reference.safetensors"))
                    weights, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
                    batch, _ = ref.read_safetensors(os.path.join(d, "batch.safetensors"))
                    B, T = batch["input_ids"].shape
                    self.assertEqual((B, T), (4, 32))
                    self.assertEqual(int((batch["attention_mask"] == 0).any(dim=1).sum()), 2)
                    steps = 10
                    expected = {"loss", "logits", "losses", "grad_norms"}
                    expected |= {"grad." + n for n in weights} | {"final." + n for n in weights}
                    self.assertEqual(set(out), expected)
                    self.assertEqual(json.loads(meta["config"])["objective"], cfg["objective"])
                    self.assertEqual(list(out["logits"].shape), [B, T, 512])
                    self.assertEqual(list(out["losses"].shape), [steps])
                    loss = out["loss"].item()
                    self.assertLess(abs(loss - math.log(512)), 0.15, f"initial loss {loss}")
                    self.assertEqual(out["losses"][0].item(), loss)
                    # The stored logits give the stored loss.
                    recomputed = ref.loss_fn(out["logits"], batch["targets"].long()).item()
                    self.assertAlmostEqual(recomputed, loss, places=5)
                    losses = out["losses"].tolist()
                    self.assertTrue(all(b < a for a, b in zip(losses, losses[1:])), f"losses {losses}")
                    self.assertLess(losses[-1], losses[0] - 0.5)
                    for n, w in weights.items():
                        g = out["grad." + n]
                        self.assertEqual(g.shape, w.shape, n)
                        self.assertGreater(g.abs().max().item(), 0, f"gradient of {n} is zero")
                        self.assertFalse(torch.equal(out["final." + n], w), f"{n} did not change")
                    # Deterministic: a second run writes identical results.
                    first = {k: v.clone() for k, v in out.items()}
                    with contextlib.redirect_stdout(io.StringIO()):
                        ref.main([d])
                    again, _ = ref.read_safetensors(os.path.join(d, "reference.safetensors"))
                    for k in first:
                        self.assertTrue(torch.equal(first[k], again[k]), k)

    def test_seq2seq(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = make_dir(tmp, "s2s", SEQ2SEQ)
            with open(os.path.join(d, "train.json"), "w") as f:
                json.dump({**ref.TRAIN_DEFAULTS, "label_smoothing": 0.1}, f)
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(ref.main([d]), 0)
            out, _ = ref.read_safetensors(os.path.join(d, "reference.safetensors"))
            weights, _ = ref.read_safetensors(os.path.join(d, "model.safetensors"))
            batch, _ = ref.read_safetensors(os.path.join(d, "batch.safetensors"))
            self.assertIn("dec_blocks.2.cross_attn.kv.weight", weights)
            self.assertEqual(list(out["logits"].shape), [4, 32, 512])
            # label smoothing adds ε·(mean −log p − nll) to a loss that starts near ln V
            self.assertLess(abs(out["loss"].item() - math.log(512)), 0.15)
            recomputed = ref.loss_fn(out["logits"], batch["targets"].long(), 0.1).item()
            self.assertAlmostEqual(recomputed, out["loss"].item(), places=5)
            losses = out["losses"].tolist()
            self.assertLess(losses[-1], losses[0] - 0.5)
            for n in weights:
                self.assertGreater(out["grad." + n].abs().max().item(), 0, f"gradient of {n} is zero")

    def test_given_gradients(self):
        """With grads.safetensors the optimizer steps use its gradients: one step on the model's
        own initial gradient gives the free run's parameters; a wrong file is refused."""
        with tempfile.TemporaryDirectory() as tmp:
            d = make_dir(tmp, "g", CONFIGS["clm-pre-gelu_tanh"])
            with open(os.path.join(d, "train.json"), "w") as f:
                json.dump({**ref.TRAIN_DEFAULTS, "steps": 1}, f)
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(ref.main([d]), 0)
            free, meta = ref.read_safetensors(os.path.join(d, "reference.safetensors"))
            self.assertEqual(meta["gradients"], "own")
            grads = {"step0." + k[len("grad."):]: v for k, v in free.items() if k.startswith("grad.")}
            ref.write_safetensors(os.path.join(d, "grads.safetensors"), grads)
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(ref.main([d]), 0)
            given, meta = ref.read_safetensors(os.path.join(d, "reference.safetensors"))
            self.assertEqual(meta["gradients"], "grads.safetensors")
            self.assertEqual(set(given), set(free))
            for k in free:
                self.assertTrue(torch.equal(free[k], given[k]), k)
            # Scaled gradients: the same clipped direction, a different norm.
            ref.write_safetensors(os.path.join(d, "grads.safetensors"), {k: 3 * v for k, v in grads.items()})
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(ref.main([d]), 0)
            scaled, _ = ref.read_safetensors(os.path.join(d, "reference.safetensors"))
            self.assertAlmostEqual(scaled["grad_norms"].item(), 3 * free["grad_norms"].item(), places=4)
            del grads["step0.ln_f.bias"]
            grads["step1.ln_f.bias"] = torch.zeros(64)
            grads["step0.tok_emb.weight"] = torch.zeros(3)
            ref.write_safetensors(os.path.join(d, "grads.safetensors"), grads)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(ref.main([d]), 1)
            msg = err.getvalue()
            self.assertIn("missing gradient step0.ln_f.bias", msg)
            self.assertIn("unexpected tensor step1.ln_f.bias", msg)
            self.assertIn("step0.tok_emb.weight is F32 [3], expected F32 [512, 64]", msg)

    def test_mismatched_weights(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = make_dir(tmp, "m", CONFIGS["clm-pre-gelu_tanh"])
            path = os.path.join(d, "model.safetensors")
            weights, _ = ref.read_safetensors(path)
            del weights["blocks.1.mlp.fc2.bias"]
            weights["blocks.0.attn.qkv.weight"] = torch.zeros(10, 64)
            weights["lm_head.bias"] = torch.zeros(512)
            ref.write_safetensors(path, weights)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(ref.main([d]), 1)
            msg = err.getvalue()
            self.assertIn("missing parameter blocks.1.mlp.fc2.bias [64]", msg)
            self.assertIn("unexpected tensor lm_head.bias [512]", msg)
            self.assertIn("blocks.0.attn.qkv.weight has shape [10, 64], the config needs [192, 64]", msg)


if __name__ == "__main__":
    unittest.main()
