#!/usr/bin/python3
"""PyTorch reference for tlc's Transformers (masked LM, causal LM, encoder–decoder): computes
the loss, logits, gradients and a few AdamW steps for given weights and a batch, so that tlc's
results can be compared with them.

    /usr/bin/python3 tools/torch_reference.py <dir>
        reads  <dir>/config.json, <dir>/model.safetensors, <dir>/batch.safetensors, <dir>/train.json
               and, if present, <dir>/grads.safetensors (the gradients the AdamW steps then use)
        writes <dir>/reference.safetensors

    /usr/bin/python3 tools/torch_reference.py --init <dir> --seed N [--batch B] [--seq T]
        reads  <dir>/config.json
        writes random initial weights (model.safetensors), a random batch (batch.safetensors)
        and, if absent, train.json with default hyper-parameters

    /usr/bin/python3 tools/torch_reference.py --fixture <file>
        writes a tiny deterministic safetensors file used by tlc's format tests

Needs only torch (1.13 or later). The safetensors format is read and written here with
struct/json, so the `safetensors` package is not required. Everything runs in float32 on CPU
with one thread, deterministically. See tools/README.md.
"""

import argparse
import json
import math
import os
import struct
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F


class ReferenceError(Exception):
    """A problem with the inputs, reported as one clear line."""


# ---- safetensors ----------------------------------------------------------------------

# safetensors dtype name -> (torch dtype, element bytes)
DTYPES = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
DTYPE_NAMES = {dt: name for name, (dt, _) in DTYPES.items()}


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) for a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ReferenceError(f"{path}: file is {len(blob)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ReferenceError(f"{path}: header length {n} is beyond the file size ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReferenceError(f"{path}: header is not valid JSON ({e})")
    if not isinstance(header, dict):
        raise ReferenceError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    data = blob[8 + n :]
    tensors = {}
    for name in sorted(header):
        entry = header[name]
        dtype_name = entry.get("dtype")
        if dtype_name not in DTYPES:
            raise ReferenceError(f"{path}: tensor '{name}' has unsupported dtype {dtype_name!r}")
        dtype, size = DTYPES[dtype_name]
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
        numel = math.prod(shape)
        if not (0 <= begin <= end <= len(data)) or end - begin != numel * size:
            raise ReferenceError(f"{path}: tensor '{name}' has bad data offsets [{begin}, {end}] "
                                 f"for {dtype_name} {shape} ({len(data)} data bytes)")
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            # bytearray: a private, writable copy (torch.frombuffer shares the memory)
            tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(shape)
    return tensors, metadata


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what matter
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} atomically (temporary file, fsync, rename). Header keys are
    sorted; data is laid out by element size (largest first), then name, so every tensor is
    aligned to its element size — the same layout as tlc's writer."""
    if sys.byteorder != "little":
        raise ReferenceError("big-endian hosts are not supported")
    layout = sorted(tensors, key=lambda k: (-DTYPES[DTYPE_NAMES[tensors[k].dtype]][1], k))
    offsets, blobs, pos = {}, [], 0
    for name in layout:
        b = tensor_bytes(tensors[name])
        offsets[name] = [pos, pos + len(b)]
        blobs.append(b)
        pos += len(b)
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata)}
    for name in sorted(tensors):
        t = tensors[name]
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": offsets[name]}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename durable
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(dir_fd)


# ---- configuration --------------------------------------------------------------------

CONFIG_DEFAULTS = {"layer_norm_eps": 1e-5, "dropout": 0.0, "tie_embeddings": True}
TRAIN_DEFAULTS = {"lr": 1e-3, "betas": [0.9, 0.98], "eps": 1e-6, "weight_decay": 0.01,
                  "max_grad_norm": 0.5, "steps": 10, "label_smoothing": 0.0}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ReferenceError(f"{path} is missing")
    except json.JSONDecodeError as e:
        raise ReferenceError(f"{path} is not valid JSON ({e})")


def load_config(path):
    return load_config_dict(load_json(path), path)


def load_config_dict(raw, path="config"):
    cfg = {**CONFIG_DEFAULTS, **raw}
    for key in ("objective", "vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len", "norm", "activation"):
        if key not in cfg:
            raise ReferenceError(f"{path}: \"{key}\" is missing")
    choices = {"objective": ("mlm", "clm", "seq2seq"), "norm": ("pre", "post"), "activation": ("gelu", "gelu_tanh")}
    for key, allowed in choices.items():
        if cfg[key] not in allowed:
            raise ReferenceError(f"{path}: \"{key}\" is {cfg[key]!r}, expected one of {allowed}")
    for key in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len"):
        if not isinstance(cfg[key], int) or cfg[key] < (0 if key == "n_layers" else 1):
            raise ReferenceError(f"{path}: \"{key}\" must be a positive integer, got {cfg[key]!r}")
    if cfg["objective"] == "seq2seq":
        cfg.setdefault("n_decoder_layers", cfg["n_layers"])
        if not isinstance(cfg["n_decoder_layers"], int) or cfg["n_decoder_layers"] < 1:
            raise ReferenceError(f"{path}: \"n_decoder_layers\" must be a positive integer, got {cfg['n_decoder_layers']!r}")
        if cfg["norm"] != "pre":
            raise ReferenceError(f"{path}: seq2seq models are pre-LN only, got norm {cfg['norm']!r}")
    elif "n_decoder_layers" in cfg:
        raise ReferenceError(f"{path}: only seq2seq models have \"n_decoder_layers\"")
    if cfg["d_model"] % cfg["n_heads"] != 0:
        raise ReferenceError(f"{path}: d_model {cfg['d_model']} is not divisible by n_heads {cfg['n_heads']}")
    if cfg["dropout"] != 0:
        raise ReferenceError(f"{path}: dropout must be 0 for a deterministic reference, got {cfg['dropout']}")
    if cfg["tie_embeddings"] is not True:
        raise ReferenceError(f"{path}: only tie_embeddings = true is supported")
    return cfg


def load_train(path):
    train = {**TRAIN_DEFAULTS, **load_json(path)}
    if not isinstance(train["steps"], int) or train["steps"] < 1:
        raise ReferenceError(f"{path}: \"steps\" must be a positive integer, got {train['steps']!r}")
    if len(train["betas"]) != 2:
        raise ReferenceError(f"{path}: \"betas\" must hold two numbers")
    if not 0 <= train["label_smoothing"] < 1:
        raise ReferenceError(f"{path}: \"label_smoothing\" must be in [0, 1), got {train['label_smoothing']!r}")
    return train


# ---- the model ------------------------------------------------------------------------


def activation_fn(name):
    if name == "gelu":
        return lambda x: F.gelu(x)  # exact: x·Φ(x) with erf
    return lambda x: F.gelu(x, approximate="tanh")


def multi_head_attention(q, k, v, n_heads, allowed):
    """q [B, Tq, C], k and v [B, Tk, C]; allowed [B, Tq, Tk] bool, allowed[b, i, j] = query i
    may attend to key j. Head h uses features h·Dh..(h+1)·Dh-1. Scores q·kᵀ/√Dh; masked keys get
    −inf before the softmax; a query whose keys are all masked gets zero attention weights (its
    softmax·v is 0). Returns [B, Tq, C], heads concatenated (feature h·Dh + d)."""
    B, Tq, C = q.shape
    Tk = k.shape[1]
    H = n_heads
    Dh = C // H
    q = q.view(B, Tq, H, Dh).transpose(1, 2)  # [B, H, Tq, Dh]
    k = k.view(B, Tk, H, Dh).transpose(1, 2)
    v = v.view(B, Tk, H, Dh).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(Dh)  # [B, H, Tq, Tk]
    allowed = allowed.unsqueeze(1)  # [B, 1, Tq, Tk]
    any_allowed = allowed.any(dim=-1, keepdim=True)  # [B, 1, Tq, 1]
    scores = scores.masked_fill(~allowed, float("-inf"))
    # Rows with every key masked would be softmax(all −inf) = NaN: give them finite
    # scores, then zero their weights, so no NaN reaches the output or the gradients.
    scores = scores.masked_fill(~any_allowed, 0.0)
    probs = torch.softmax(scores, dim=-1) * any_allowed
    y = probs @ v  # [B, H, Tq, Dh]
    return y.transpose(1, 2).reshape(B, Tq, C)


class Attention(nn.Module):
    """Multi-head self-attention with one fused projection.

    qkv.weight [3C, C]: rows 0..C-1 give q, C..2C-1 k, 2C..3C-1 v (see multi_head_attention)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, allowed):
        # x: [B, T, C]; allowed: [B, T, T] bool
        q, k, v = self.qkv(x).split(x.shape[-1], dim=-1)  # each [B, T, C]
        return self.out(multi_head_attention(q, k, v, self.n_heads, allowed))


class CrossAttention(nn.Module):
    """Decoder queries over the encoder output: q.weight [C, C] projects the decoder states,
    kv.weight [2C, C] the encoder output (rows 0..C-1 give k, C..2C-1 v)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x, memory, allowed):
        # x: [B, T, C]; memory: [B, S, C]; allowed: [B, T, S] bool
        k, v = self.kv(memory).split(x.shape[-1], dim=-1)
        return self.out(multi_head_attention(self.q(x), k, v, self.n_heads, allowed))


class MLP(nn.Module):
    def __init__(self, d_model, d_ff, act):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)
        self.act = act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg, act):
        super().__init__()
        C, eps = cfg["d_model"], cfg["layer_norm_eps"]
        self.pre_ln = cfg["norm"] == "pre"
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.attn = Attention(C, cfg["n_heads"])
        self.ln2 = nn.LayerNorm(C, eps=eps)
        self.mlp = MLP(C, cfg["d_ff"], act)

    def forward(self, x, allowed):
        if self.pre_ln:
            x = x + self.attn(self.ln1(x), allowed)
            x = x + self.mlp(self.ln2(x))
        else:
            x = self.ln1(x + self.attn(x, allowed))
            x = self.ln2(x + self.mlp(x))
        return x


class DecoderBlock(nn.Module):
    """Pre-LN: causal self-attention, cross-attention over the encoder output, MLP."""

    def __init__(self, cfg, act):
        super().__init__()
        C, eps = cfg["d_model"], cfg["layer_norm_eps"]
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.self_attn = Attention(C, cfg["n_heads"])
        self.ln2 = nn.LayerNorm(C, eps=eps)
        self.cross_attn = CrossAttention(C, cfg["n_heads"])
        self.ln3 = nn.LayerNorm(C, eps=eps)
        self.mlp = MLP(C, cfg["d_ff"], act)

    def forward(self, x, memory, self_allowed, cross_allowed):
        x = x + self.self_attn(self.ln1(x), self_allowed)
        x = x + self.cross_attn(self.ln2(x), memory, cross_allowed)
        return x + self.mlp(self.ln3(x))


class MlmHead(nn.Module):
    """h = ln(act(dense(x))); logits = h·tok_embᵀ + bias."""

    def __init__(self, cfg, act):
        super().__init__()
        C = cfg["d_model"]
        self.dense = nn.Linear(C, C)
        self.ln = nn.LayerNorm(C, eps=cfg["layer_norm_eps"])
        self.bias = nn.Parameter(torch.zeros(cfg["vocab_size"]))
        self.act = act

    def forward(self, x, tok_emb_weight):
        h = self.ln(self.act(self.dense(x)))
        return h @ tok_emb_weight.t() + self.bias


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        act = activation_fn(cfg["activation"])
        V, C = cfg["vocab_size"], cfg["d_model"]
        self.tok_emb = nn.Embedding(V, C)
        self.pos_emb = nn.Embedding(cfg["max_len"], C)
        if cfg["norm"] == "post":
            self.emb_ln = nn.LayerNorm(C, eps=cfg["layer_norm_eps"])
        self.blocks = nn.ModuleList([Block(cfg, act) for _ in range(cfg["n_layers"])])
        if cfg["norm"] == "pre":
            self.ln_f = nn.LayerNorm(C, eps=cfg["layer_norm_eps"])
        if cfg["objective"] == "mlm":
            self.lm_head = MlmHead(cfg, act)

    def forward(self, input_ids, attention_mask):
        # input_ids: [B, T] int64; attention_mask: [B, T] bool (True = real token)
        B, T = input_ids.shape
        x = self.tok_emb(input_ids) + self.pos_emb(torch.arange(T))  # [B, T, C]
        if self.cfg["norm"] == "post":
            x = self.emb_ln(x)
        allowed = attention_mask[:, None, :].expand(B, T, T)  # padding keys are masked
        if self.cfg["objective"] == "clm":
            causal = torch.ones(T, T, dtype=torch.bool).tril()  # key j <= query i
            allowed = allowed & causal
        for block in self.blocks:
            x = block(x, allowed)
        if self.cfg["norm"] == "pre":
            x = self.ln_f(x)
        if self.cfg["objective"] == "mlm":
            return self.lm_head(x, self.tok_emb.weight)
        return x @ self.tok_emb.weight.t()  # tied output embedding, no bias  [B, T, V]


class Seq2Seq(nn.Module):
    """Encoder–decoder: the pre-LN encoder (tok_emb, pos_emb, blocks, ln_f) over the source;
    decoder blocks over the target prefix with their own positions (dec_pos_emb) and final
    norm (dec_ln_f); one token embedding for both inputs and the tied output layer."""

    def __init__(self, cfg):
        super().__init__()
        act = activation_fn(cfg["activation"])
        V, C, eps = cfg["vocab_size"], cfg["d_model"], cfg["layer_norm_eps"]
        self.tok_emb = nn.Embedding(V, C)
        self.pos_emb = nn.Embedding(cfg["max_len"], C)
        self.blocks = nn.ModuleList([Block(cfg, act) for _ in range(cfg["n_layers"])])
        self.ln_f = nn.LayerNorm(C, eps=eps)
        self.dec_pos_emb = nn.Embedding(cfg["max_len"], C)
        self.dec_blocks = nn.ModuleList([DecoderBlock(cfg, act) for _ in range(cfg["n_decoder_layers"])])
        self.dec_ln_f = nn.LayerNorm(C, eps=eps)

    def forward(self, source_ids, source_mask, decoder_input_ids):
        # source_ids, source_mask: [B, S] (mask True = real token); decoder_input_ids: [B, T]
        B, S = source_ids.shape
        T = decoder_input_ids.shape[1]
        x = self.tok_emb(source_ids) + self.pos_emb(torch.arange(S))
        allowed = source_mask[:, None, :].expand(B, S, S)
        for block in self.blocks:
            x = block(x, allowed)
        memory = self.ln_f(x)  # [B, S, C]
        y = self.tok_emb(decoder_input_ids) + self.dec_pos_emb(torch.arange(T))
        causal = torch.ones(T, T, dtype=torch.bool).tril().expand(B, T, T)  # key j <= query i
        cross = source_mask[:, None, :].expand(B, T, S)  # padding of the source is masked
        for block in self.dec_blocks:
            y = block(y, memory, causal, cross)
        return self.dec_ln_f(y) @ self.tok_emb.weight.t()  # [B, T, V]


def build_model(cfg):
    return Seq2Seq(cfg) if cfg["objective"] == "seq2seq" else Transformer(cfg)


def loss_fn(logits, targets, label_smoothing=0.0):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100, label_smoothing=label_smoothing)


def load_weights(model, path):
    weights, _ = read_safetensors(path)
    expected = dict(model.named_parameters())
    problems = []
    for name in sorted(set(expected) - set(weights)):
        problems.append(f"missing parameter {name} {list(expected[name].shape)}")
    for name in sorted(set(weights) - set(expected)):
        problems.append(f"unexpected tensor {name} {list(weights[name].shape)}")
    for name in sorted(set(weights) & set(expected)):
        w, p = weights[name], expected[name]
        if w.dtype != torch.float32:
            problems.append(f"{name} has dtype {DTYPE_NAMES.get(w.dtype, w.dtype)}, expected F32")
        elif list(w.shape) != list(p.shape):
            problems.append(f"{name} has shape {list(w.shape)}, the config needs {list(p.shape)}")
    if problems:
        raise ReferenceError(f"{path} does not match the config:\n  " + "\n  ".join(problems))
    with torch.no_grad():
        for name, p in expected.items():
            p.copy_(weights[name])


def check_dtypes(path, t, names):
    for name, dtype in names:
        if name not in t:
            raise ReferenceError(f"{path}: tensor '{name}' is missing")
        if t[name].dtype != dtype:
            raise ReferenceError(f"{path}: '{name}' has dtype {DTYPE_NAMES.get(t[name].dtype)}, expected {DTYPE_NAMES[dtype]}")


def check_ids(path, name, ids, V):
    if ids.numel() and (ids.min() < 0 or ids.max() >= V):
        raise ReferenceError(f"{path}: {name} must lie in [0, {V})")


def check_targets_and_mask(path, targets, mask, mask_name, V):
    bad = (targets != -100) & ((targets < 0) | (targets >= V))
    if bad.any():
        raise ReferenceError(f"{path}: targets must lie in [0, {V}) or be -100")
    if not ((mask == 0) | (mask == 1)).all():
        raise ReferenceError(f"{path}: {mask_name} must hold only 0 and 1")
    if not (targets != -100).any():
        raise ReferenceError(f"{path}: every target is -100, the loss is undefined")


def load_batch(path, cfg):
    """The model's inputs as a tuple, and the targets."""
    if cfg["objective"] == "seq2seq":
        return load_seq2seq_batch(path, cfg)
    t, _ = read_safetensors(path)
    check_dtypes(path, t, (("input_ids", torch.int32), ("targets", torch.int32), ("attention_mask", torch.uint8)))
    ids, targets, mask = t["input_ids"], t["targets"], t["attention_mask"]
    if ids.dim() != 2 or list(targets.shape) != list(ids.shape) or list(mask.shape) != list(ids.shape):
        raise ReferenceError(f"{path}: input_ids {list(ids.shape)}, targets {list(targets.shape)} and "
                             f"attention_mask {list(mask.shape)} must all be [B, T]")
    V, T = cfg["vocab_size"], ids.shape[1]
    if T > cfg["max_len"]:
        raise ReferenceError(f"{path}: sequence length {T} exceeds max_len {cfg['max_len']}")
    check_ids(path, "input_ids", ids, V)
    check_targets_and_mask(path, targets, mask, "attention_mask", V)
    return (ids.long(), mask.bool()), targets.long()


def load_seq2seq_batch(path, cfg):
    t, _ = read_safetensors(path)
    check_dtypes(path, t, (("source_ids", torch.int32), ("source_mask", torch.uint8),
                           ("decoder_input_ids", torch.int32), ("targets", torch.int32)))
    src, mask, dec, targets = t["source_ids"], t["source_mask"], t["decoder_input_ids"], t["targets"]
    if src.dim() != 2 or list(mask.shape) != list(src.shape):
        raise ReferenceError(f"{path}: source_ids {list(src.shape)} and source_mask {list(mask.shape)} must both be [B, S]")
    if dec.dim() != 2 or dec.shape[0] != src.shape[0] or list(targets.shape) != list(dec.shape):
        raise ReferenceError(f"{path}: decoder_input_ids {list(dec.shape)} and targets {list(targets.shape)} must both be [B, T]")
    V = cfg["vocab_size"]
    if max(src.shape[1], dec.shape[1]) > cfg["max_len"]:
        raise ReferenceError(f"{path}: a sequence is longer than max_len {cfg['max_len']}")
    check_ids(path, "source_ids", src, V)
    check_ids(path, "decoder_input_ids", dec, V)
    check_targets_and_mask(path, targets, mask, "source_mask", V)
    return (src.long(), mask.bool(), dec.long()), targets.long()


# ---- the reference run ----------------------------------------------------------------


def load_given_grads(path, params, steps):
    """The per-step gradients of grads.safetensors ("step<k>.<param>", before clipping) as
    [{name: tensor}] for k = 0..steps-1."""
    t, _ = read_safetensors(path)
    problems = []
    expected = {f"step{k}.{name}": p for k in range(steps) for name, p in params.items()}
    for key in sorted(set(expected) - set(t)):
        problems.append(f"missing gradient {key}")
    for key in sorted(set(t) - set(expected)):
        problems.append(f"unexpected tensor {key}")
    for key in sorted(set(t) & set(expected)):
        if t[key].dtype != torch.float32 or list(t[key].shape) != list(expected[key].shape):
            problems.append(f"{key} is {DTYPE_NAMES.get(t[key].dtype)} {list(t[key].shape)}, "
                            f"expected F32 {list(expected[key].shape)}")
    if problems:
        raise ReferenceError(f"{path} does not match the model and train.json (steps {steps}):\n  " + "\n  ".join(problems))
    return [{name: t[f"step{k}.{name}"] for name in params} for k in range(steps)]


def gelu_input_stats(model, inputs):
    """Standard deviation of every GELU input (MLP and masked-LM head pre-activations) and the
    share of them with 0.5 <= |x| <= 4, where GELU is neither near-linear nor near-ReLU."""
    seen = []
    hooks = [m.fc1.register_forward_hook(lambda _m, _i, o: seen.append(o.detach().flatten()))
             for m in model.modules() if isinstance(m, MLP)]
    hooks += [m.dense.register_forward_hook(lambda _m, _i, o: seen.append(o.detach().flatten()))
              for m in model.modules() if isinstance(m, MlmHead)]
    with torch.no_grad():
        model(*inputs)
    for h in hooks:
        h.remove()
    x = torch.cat(seen)
    a = x.abs()
    return float(x.std()), float(((a >= 0.5) & (a <= 4)).float().mean())


def run_reference(directory):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = load_config(os.path.join(directory, "config.json"))
    train = load_train(os.path.join(directory, "train.json"))
    model = build_model(cfg)
    load_weights(model, os.path.join(directory, "model.safetensors"))
    inputs, targets = load_batch(os.path.join(directory, "batch.safetensors"), cfg)
    gelu_stats = gelu_input_stats(model, inputs)

    params = dict(model.named_parameters())
    grads_path = os.path.join(directory, "grads.safetensors")
    given = load_given_grads(grads_path, params, train["steps"]) if os.path.exists(grads_path) else None
    # Weight decay on weight matrices and embeddings (ndim >= 2) only, not on biases or LayerNorm.
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": train["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=train["lr"], betas=tuple(train["betas"]), eps=train["eps"], foreach=False)

    out = {}
    losses, grad_norms = [], []
    for step in range(train["steps"]):
        opt.zero_grad(set_to_none=True)
        if step == 0 or given is None:
            logits = model(*inputs)
            loss = loss_fn(logits, targets, train["label_smoothing"])
            loss.backward()
        else:
            with torch.no_grad():
                loss = loss_fn(model(*inputs), targets, train["label_smoothing"])
        if step == 0:
            out["loss"] = loss.detach().reshape(1).clone()
            out["logits"] = logits.detach().clone()
            for name, p in params.items():
                out["grad." + name] = p.grad.detach().clone()  # before clipping
        if given is not None:
            # The optimizer alone: AdamW on the gradient sequence of grads.safetensors.
            for name, p in params.items():
                p.grad = given[step][name].clone()
        losses.append(loss.item())
        grad_norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), train["max_grad_norm"])))
        opt.step()
    for name, p in params.items():
        out["final." + name] = p.detach().clone()
    out["losses"] = torch.tensor(losses, dtype=torch.float32)
    out["grad_norms"] = torch.tensor(grad_norms, dtype=torch.float32)
    metadata = {"config": json.dumps(cfg, sort_keys=True), "train": json.dumps(train, sort_keys=True),
                "torch": torch.__version__, "gradients": "grads.safetensors" if given is not None else "own"}
    path = os.path.join(directory, "reference.safetensors")
    write_safetensors(path, out, metadata)
    return path, losses, grad_norms, given is not None, gelu_stats


def run_autocast(directory):
    """Loss and logits of the fixture's model and batch under torch.autocast('cpu', bfloat16):
    PyTorch's mixed precision (linear and matmul in bf16, reductions in f32), the reference for
    tlc's bf16 training mode. Writes reference-bf16.safetensors (float32 values)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = load_config(os.path.join(directory, "config.json"))
    train = load_train(os.path.join(directory, "train.json"))
    model = build_model(cfg)
    load_weights(model, os.path.join(directory, "model.safetensors"))
    inputs, targets = load_batch(os.path.join(directory, "batch.safetensors"), cfg)
    # torch 1.13's CPU autocast leaves layer_norm to its input's dtype and refuses a bf16 input
    # with f32 parameters: normalise in f32, as mixed precision prescribes (and tlc does)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.register_forward_pre_hook(lambda _m, args: tuple(a.float() for a in args))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(*inputs)
        loss = loss_fn(logits.float(), targets, train["label_smoothing"])
    out = {"loss": loss.detach().float().reshape(1).clone(), "logits": logits.detach().float().clone()}
    metadata = {"torch": torch.__version__, "autocast": "cpu bfloat16", "logits_dtype": str(logits.dtype)}
    path = os.path.join(directory, "reference-bf16.safetensors")
    write_safetensors(path, out, metadata)
    return path, float(loss)


# ---- random inputs --------------------------------------------------------------------

PAD_ID, MASK_ID = 0, 1  # ids used by --init; ordinary tokens are drawn from [2, V)


def init_weights(model, seed):
    """Normal(0, 0.02) for weight matrices and embeddings, LayerNorm weight 1 and bias 0, other biases 0."""
    layer_norm_params = {f"{m_name}.{p_name}" for m_name, m in model.named_modules()
                         if isinstance(m, nn.LayerNorm) for p_name, _ in m.named_parameters()}
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name in layer_norm_params:
                p.fill_(1.0 if name.endswith(".weight") else 0.0)
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            else:
                p.zero_()


def random_batch(cfg, seed, B, T):
    g = torch.Generator().manual_seed(seed + 1)
    V = cfg["vocab_size"]
    if V < 3:
        raise ReferenceError("--init needs vocab_size >= 3 (ids 0 and 1 are padding and mask)")
    tokens = torch.randint(2, V, (B, T), generator=g)
    lengths = torch.full((B,), T)
    # Padding at the end of two sequences.
    for b in range(1, B, 2)[:2]:
        lengths[b] = int(torch.randint(T // 2, T, (1,), generator=g))
    mask = torch.arange(T)[None, :] < lengths[:, None]  # [B, T]
    targets = torch.full((B, T), -100, dtype=torch.long)
    ids = tokens.clone()
    if cfg["objective"] == "mlm":
        chosen = (torch.rand(B, T, generator=g) < 0.15) & mask
        for b in range(B):  # at least one target per sequence
            if not chosen[b].any():
                chosen[b, int(torch.randint(0, int(lengths[b]), (1,), generator=g))] = True
        targets[chosen] = tokens[chosen]
        ids[chosen] = MASK_ID
    else:
        nxt = mask[:, :-1] & mask[:, 1:]  # predict token t+1 only when both are real
        targets[:, :-1] = torch.where(nxt, tokens[:, 1:], torch.full_like(tokens[:, 1:], -100))
    ids[~mask] = PAD_ID
    return {"input_ids": ids.int(), "targets": targets.int(), "attention_mask": mask.to(torch.uint8)}


def random_seq2seq_batch(cfg, seed, B, T):
    """Sources and targets of T tokens, two of each padded; the decoder reads <s> y… (id 2 as
    <s>) and predicts y… </s> (id 3 as </s>)."""
    g = torch.Generator().manual_seed(seed + 1)
    V = cfg["vocab_size"]
    if V < 5:
        raise ReferenceError("--init needs vocab_size >= 5 for a seq2seq batch")
    source = torch.randint(4, V, (B, T), generator=g)
    target = torch.randint(4, V, (B, T), generator=g)
    src_len, tgt_len = torch.full((B,), T), torch.full((B,), T)
    for b in range(1, B, 2)[:2]:
        src_len[b] = int(torch.randint(1, T, (1,), generator=g))
        tgt_len[b - 1] = int(torch.randint(1, T, (1,), generator=g))
    positions = torch.arange(T)[None, :]
    source_mask = positions < src_len[:, None]
    dec = torch.cat([torch.full((B, 1), 2), target[:, :-1]], dim=1)
    targets = torch.where(positions == tgt_len[:, None] - 1, torch.full_like(target, 3), target)
    targets[positions >= tgt_len[:, None]] = -100
    dec[positions >= tgt_len[:, None]] = PAD_ID
    source[~source_mask] = PAD_ID
    return {"source_ids": source.int(), "source_mask": source_mask.to(torch.uint8),
            "decoder_input_ids": dec.int(), "targets": targets.int()}


def run_init(directory, seed, B, T):
    cfg = load_config(os.path.join(directory, "config.json"))
    if T > cfg["max_len"]:
        raise ReferenceError(f"--seq {T} exceeds max_len {cfg['max_len']}")
    model = build_model(cfg)
    init_weights(model, seed)
    write_safetensors(os.path.join(directory, "model.safetensors"),
                      {n: p.detach() for n, p in model.named_parameters()}, {"seed": str(seed)})
    batch = random_seq2seq_batch(cfg, seed, B, T) if cfg["objective"] == "seq2seq" else random_batch(cfg, seed, B, T)
    write_safetensors(os.path.join(directory, "batch.safetensors"), batch, {"seed": str(seed)})
    train_path = os.path.join(directory, "train.json")
    if not os.path.exists(train_path):
        with open(train_path, "w") as f:
            json.dump(TRAIN_DEFAULTS, f, indent=2)
            f.write("\n")


def write_fixture(path):
    """A tiny file with every dtype tlc reads, a scalar, an empty tensor and metadata. Values
    follow simple formulas so that the test can recompute them."""
    tensors = {
        "f32.matrix": torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.0,
        "f32.scalar": torch.tensor(3.5, dtype=torch.float32),
        "f32.empty": torch.zeros(0, 5, dtype=torch.float32),
        "i32.ids": torch.tensor([[-100, 0, 7], [2147483647, -2147483648, 42]], dtype=torch.int32),
        "u8.mask": torch.tensor([1, 1, 0, 255, 1], dtype=torch.uint8),
        "bf16.values": torch.tensor([1.0, -2.5, 0.15625, 65280.0], dtype=torch.bfloat16),
        "i8.quant": torch.tensor([-128, -1, 0, 1, 127, 5, -7], dtype=torch.int8).reshape(7, 1),
        "block.0.weight": torch.tensor([[-1.0, -0.5, 0.0], [0.25, 0.75, 1e-3]], dtype=torch.float32),
    }
    write_safetensors(path, tensors, {"producer": "tools/torch_reference.py --fixture", "note": "π ≈ 3.14"})


def main(argv):
    parser = argparse.ArgumentParser(description="PyTorch reference for tlc's Transformer (see tools/README.md)")
    parser.add_argument("dir", nargs="?", help="directory with config.json, model.safetensors, batch.safetensors, train.json")
    parser.add_argument("--init", metavar="DIR", help="write random weights and a random batch for DIR/config.json")
    parser.add_argument("--seed", type=int, default=0, help="seed for --init (default 0)")
    parser.add_argument("--batch", type=int, default=4, help="batch size B for --init (default 4)")
    parser.add_argument("--seq", type=int, default=32, help="sequence length T for --init (default 32)")
    parser.add_argument("--fixture", metavar="FILE", help="write the small safetensors test fixture to FILE")
    parser.add_argument("--autocast", action="store_true",
                        help="with <dir>: loss and logits under torch.autocast('cpu', bfloat16) into reference-bf16.safetensors")
    args = parser.parse_args(argv)
    modes = sum(x is not None for x in (args.dir, args.init, args.fixture))
    if modes != 1:
        parser.error("give exactly one of <dir>, --init <dir>, --fixture <file>")
    try:
        if args.fixture:
            write_fixture(args.fixture)
            print(f"wrote {args.fixture}")
        elif args.init:
            run_init(args.init, args.seed, args.batch, args.seq)
            print(f"wrote {os.path.join(args.init, 'model.safetensors')} and {os.path.join(args.init, 'batch.safetensors')}")
        elif args.autocast:
            path, loss = run_autocast(args.dir)
            print(f"wrote {path} (autocast bf16 loss {loss:.6f})")
        else:
            path, losses, norms, replayed, (gelu_std, gelu_curved) = run_reference(args.dir)
            print(f"wrote {path}")
            print(f"GELU inputs at the initial weights: std {gelu_std:.3f}, "
                  f"{100 * gelu_curved:.0f}% with 0.5 <= |x| <= 4")
            if replayed:
                print("optimizer steps on the gradients of grads.safetensors")
            for i, (l, n) in enumerate(zip(losses, norms)):
                print(f"step {i}: loss {l:.6f}  grad norm {n:.6f}")
    except ReferenceError as e:
        print(f"torch_reference: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
