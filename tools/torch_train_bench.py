#!/usr/bin/env python3
"""PyTorch side of `tlc bench train`: trains the same Transformer as tlc (the model of
tools/torch_reference.py) with AdamW on random masked-LM batches and prints one JSON
line with the measured tokens/s. Like tlc, the output layer runs only at the positions
that have a target, as fairseq's RoBERTa does.

Usage: /usr/bin/python3 tools/torch_train_bench.py '<json config>'
  config keys: model (tlc config.json fields), batch, seq_len, steps, warmup_steps, threads, seed,
  precision: "f32" (default) or "bf16" (torch.autocast on the CPU: bf16 products, f32 weights),
  head: "targets" (default: output layer only where there is a target, as tlc does) or "all" (logits
  at every position, then the loss ignores the rest, as Hugging Face's RobertaForMaskedLM does)
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import Transformer  # noqa: E402


def encode(model, input_ids):
    """Hidden states [B, T, C]: Transformer.forward without the output layer (no padding)."""
    cfg = model.cfg
    B, T = input_ids.shape
    x = model.tok_emb(input_ids) + model.pos_emb(torch.arange(T))
    if cfg["norm"] == "post":
        x = model.emb_ln(x)
    allowed = torch.ones(B, T, T, dtype=torch.bool)
    if cfg["objective"] == "clm":
        allowed = allowed & torch.ones(T, T, dtype=torch.bool).tril()
    for block in model.blocks:
        x = block(x, allowed)
    if cfg["norm"] == "pre":
        x = model.ln_f(x)
    return x


def head(model, h):
    if model.cfg["objective"] == "mlm":
        return model.lm_head(h, model.tok_emb.weight)
    return h @ model.tok_emb.weight.t()


def blas_kernel():
    """Which BLAS torch runs on, and which kernel it picked: threadpoolctl if installed, else
    OpenBLAS's own openblas_get_config / openblas_get_corename through ctypes."""
    try:
        import threadpoolctl  # noqa: F401
        infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            i = infos[0]
            return f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}), {i.get('filepath')}"
    except ImportError:
        pass
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.split()[-1].lower() and ".so" in line})
    except OSError:
        libs = []
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_config"):
            lib.openblas_get_config.restype = ctypes.c_char_p
            core = ""
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                core = ", core " + lib.openblas_get_corename().decode()
            return f"{lib.openblas_get_config().decode()}{core}, {path}"
    blas = [line.strip() for line in torch.__config__.show().splitlines() if "BLAS" in line]
    return "; ".join(blas + libs) or "unknown"


def main():
    spec = json.loads(sys.argv[1])
    cfg = spec["model"]
    torch.manual_seed(spec.get("seed", 0))
    torch.set_num_threads(spec["threads"])
    model = Transformer(cfg)
    if spec.get("precision", "f32") == "bf16":
        # torch 1.13's CPU autocast leaves layer_norm to its input's dtype and refuses a bf16
        # input with f32 parameters: normalise in f32, as mixed precision prescribes (and tlc does)
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.register_forward_pre_hook(lambda _m, args: tuple(a.float() for a in args))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-4, betas=(0.9, 0.98), eps=1e-6)
    B, T, V = spec["batch"], spec["seq_len"], cfg["vocab_size"]

    def step():
        ids = torch.randint(5, V, (B, T))
        targets = torch.full((B, T), -100)
        if cfg["objective"] == "mlm":
            sel = torch.rand(B, T) < 0.15
            targets[sel] = ids[sel]
            ids[sel] = 4
        else:
            targets[:, :-1] = ids[:, 1:]
        opt.zero_grad(set_to_none=True)
        # bf16: CPU autocast (bf16 matrix products on oneDNN, f32 master weights), as IPEX documents
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec.get("precision", "f32") == "bf16"):
            h = encode(model, ids).reshape(B * T, -1)
            flat = targets.reshape(-1)
            if spec.get("head", "targets") == "all":
                logits = head(model, h)
                loss = F.cross_entropy(logits.float(), flat, ignore_index=-100)
            else:
                keep = (flat != -100).nonzero().squeeze(1)
                loss = F.cross_entropy(head(model, h[keep]).float(), flat[keep])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(spec.get("warmup_steps", 1)):
        step()
    times = []
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(), "precision": spec.get("precision", "f32"),
                      "step_seconds": median, "tokens_per_s": B * T / median, "blas": blas_kernel()}))


if __name__ == "__main__":
    main()
