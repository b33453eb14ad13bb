#!/usr/bin/env python3
"""Measure GPU memory of real training steps of Hugging Face causal LMs (random init), phase by phase.

For a CUDA machine with torch >= 2.4 and transformers >= 4.45 (written for torch 2.11 / transformers 5.x; no
flash-attn, deepspeed or bitsandbytes needed).  Every setting runs in a fresh subprocess so that peaks and the
caching allocator's pool do not carry over from one setting to the next.

  per setting: build the model from a config.json (num_hidden_layers overridden), make the optimizer, run
  --warmup steps, then --measure steps; in each measured step
      reset_peak_memory_stats -> forward (+ loss)      -> record phase "forward"
      reset_peak_memory_stats -> loss.backward()       -> record phase "backward"
      reset_peak_memory_stats -> optimizer.step(); zero_grad(set_to_none=True) -> "optimizer_step"
  recording torch.cuda.max_memory_allocated / max_memory_reserved / memory_allocated and a memory_stats()
  subset, plus torch.cuda.mem_get_info() before the model exists and after the run.

Kinds of run in a grid:
  "step"  - the training step above; emits records with metric allocated / reserved (phases forward,
            backward, optimizer_step, peak) and nvidia-smi (device memory in use at the end of the run).
  "saved" - one forward + backward with tools/measure/cpu_saved.py's saved-tensor hooks on the real HF model;
            emits saved_per_layer / saved_head records measured with this torch and transformers (checks the
            CPU numbers, including torch >= 2.2's mean backward and SDPA's saved tensors).

  python3 tools/measure/gpu_step.py --grid h100-small --out /tmp/gpu_out      # ~5 min on one H100
  python3 tools/measure/gpu_step.py --dry-run --out /tmp/gpu_dry              # CPU, tiny model, no CUDA stats
  python3 tools/measure/gpu_step.py --list --grid h100-small                  # print the settings

Outputs under --out: records.json ({"about", "records"} in tests/data/measured/README.md's schema), failed.json
(OOM or crashed settings, not records), raw/<id>.json (everything measured for one setting).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random init from a local config: never reach for the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# --------------------------------------------------------------------------------------------------
# Model configs and grids
# --------------------------------------------------------------------------------------------------

# meta-llama/Meta-Llama-3-8B config.json (public), used when --config is not given
LLAMA3_8B = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 8192,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "vocab_size": 128256,
}

TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 176,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 512,
    "max_position_embeddings": 1024,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "use_cache": False,
}

BASE = dict(kind="step", seq=4096, batch=1, precision="bf16", optimizer="adamw", attention="sdpa",
            grad_ckpt="none", loss="full")


def _g(**kw):
    d = dict(BASE)
    d.update(kw)
    return d


GRIDS = {
    # ~15 settings, Llama-3-8B dimensions with 2 layers (about 1.5 B parameters incl. embeddings); < 7 min
    "h100-small": [
        _g(),                                                     # reference: bf16 AdamW sdpa s4096 b1
        _g(batch=2),                                              # linearity in batch
        _g(seq=1024),                                             # linearity in seq
        _g(attention="eager", seq=1024),                          # eager s^2 term
        _g(attention="eager"),                                    # eager at 4096
        _g(precision="amp"),                                      # fp32 weights + autocast bf16
        _g(precision="fp32", seq=1024),
        _g(precision="mixed"),                                    # bf16 model + fp32 master + fp32 AdamW
        _g(optimizer="adamw-fused"),
        _g(optimizer="sgd"),
        _g(optimizer="sgd-momentum"),
        _g(optimizer="lion"),
        _g(optimizer="adafactor"),
        _g(grad_ckpt="full"),
        _g(loss="chunked"),
        _g(kind="saved", attention="sdpa", seq=1024),             # saved bytes per layer, real HF model
        _g(kind="saved", attention="eager", seq=1024),
        _g(kind="saved", attention="eager", seq=1024, precision="amp"),
    ],
    # a one-minute check that everything runs on a GPU
    "gpu-smoke": [
        _g(seq=512),
        _g(seq=512, precision="amp", optimizer="adamw-fused", grad_ckpt="full", loss="chunked"),
        _g(kind="saved", seq=512, attention="eager"),
    ],
    # what --dry-run runs (tiny model, CPU): every code path once
    "dry": [
        _g(seq=32, batch=2, precision="fp32", attention="eager"),
        _g(seq=32, batch=2, precision="bf16", optimizer="adamw-fused", attention="sdpa"),
        _g(seq=32, batch=2, precision="amp", optimizer="sgd", grad_ckpt="full"),
        _g(seq=32, batch=2, precision="mixed", optimizer="lion", loss="chunked"),
        _g(seq=32, batch=2, precision="bf16", optimizer="sgd-momentum", attention="eager"),
        _g(seq=32, batch=2, precision="fp32", optimizer="adafactor", attention="eager"),
        _g(kind="saved", seq=32, batch=2, precision="bf16", attention="eager"),
    ],
}

def hf_grid(quick=False):
    """The CPU grid of hf_measure.py (kind step; families, shapes, seq up to 8192, vocab up to 128k, masks,
    checkpointing, optimizers) as gpu_step settings, each with its own model config, so GPU records line up with
    tests/data/measured/hf_cpu.json id for id ("gpu-" + the CPU run id). Skipped: selective (a CPU-harness
    construction) and the lora/compile/fsdp2 kinds."""
    sys.path.insert(0, HERE)
    import hf_measure as hm

    out = []
    for sp in hm.grid(quick):
        if sp["kind"] != "step" or sp["ckpt"] == "selective":
            continue
        cfg = hm.model_cfg(sp["family"], vocab=sp["vocab"], layers=sp["layers"], **hm.SHAPES[sp["shape"]])
        out.append(_g(seq=sp["seq"], batch=sp["batch"], precision=sp["precision"], optimizer=sp["optimizer"],
                      attention=sp["attention"], grad_ckpt=sp["ckpt"], mask=sp["mask"], model=cfg,
                      hf_id=hm.run_id(sp)))
    return out


GRIDS["hf-cpu"] = "hf_grid"  # resolved lazily (imports hf_measure)
GRIDS["hf-cpu-quick"] = "hf_grid_quick"

PRECISIONS = ("fp32", "amp", "bf16", "mixed")
OPTIMIZERS = ("adamw", "adamw-forloop", "adamw-fused", "sgd", "sgd-momentum", "lion", "adafactor")
STATS_KEYS = ("allocated_bytes.all.current", "allocated_bytes.all.peak", "reserved_bytes.all.current",
              "reserved_bytes.all.peak", "active_bytes.all.peak", "requested_bytes.all.peak",
              "inactive_split_bytes.all.peak", "num_alloc_retries", "num_ooms", "num_device_alloc",
              "num_device_free")


def spec_id(spec, model_tag):
    if spec.get("hf_id"):
        return "gpu-" + spec["hf_id"]
    if spec["kind"] == "saved":
        return (f"gpu-saved-{model_tag}-{spec['precision']}-{spec['attention']}-s{spec['seq']}-b{spec['batch']}")
    return (f"gpu-step-{model_tag}-{spec['precision']}-{spec['optimizer']}-{spec['attention']}-ckpt{spec['grad_ckpt']}"
            f"-loss{spec['loss']}-s{spec['seq']}-b{spec['batch']}")


# --------------------------------------------------------------------------------------------------
# Model construction
# --------------------------------------------------------------------------------------------------


def _version_tuple(v):
    out = []
    for part in v.split("+")[0].split("."):
        num = "".join(ch for ch in part if ch.isdigit())
        out.append(int(num) if num else 0)
    return tuple(out[:3])


def have_transformers():
    try:
        import transformers  # noqa: F401
        return True
    except Exception:
        return False


def load_config_dict(path, layers):
    if path:
        with open(path) as f:
            cfg = json.load(f)
    else:
        cfg = dict(LLAMA3_8B)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    if layers:
        cfg["num_hidden_layers"] = layers
        if isinstance(cfg.get("layer_types"), list):  # transformers checks len(layer_types) == layers
            cfg["layer_types"] = cfg["layer_types"][:layers]
        if "max_window_layers" in cfg:
            cfg["max_window_layers"] = min(cfg["max_window_layers"], layers)
    cfg["use_cache"] = False
    return cfg


def build_hf_model(cfg_dict, dtype, attention, device):
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg_dict, f)
        config = AutoConfig.from_pretrained(d)
    config.use_cache = False
    kw = {"attn_implementation": attention}
    dtype_kw = "dtype" if _version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
    ctx = torch.device(device) if device != "cpu" else contextlib.nullcontext()  # torch >= 2.0
    model = None
    with ctx:
        for dkw in (dtype_kw, "torch_dtype", None):  # transformers renamed torch_dtype to dtype in 4.56
            try:
                extra = {dkw: dtype} if dkw else {}
                model = AutoModelForCausalLM.from_config(config, **extra, **kw)
                break
            except TypeError:
                continue
    if model is None:
        raise RuntimeError("AutoModelForCausalLM.from_config failed with dtype=, torch_dtype= and no dtype")
    model.to(device=device, dtype=dtype)
    if device == "cuda":
        torch.cuda.empty_cache()  # drop any transient copy made while building/casting
    return model


class _Out(SimpleNamespace):
    pass


class TinyCausalLM:
    """Stand-in with the transformers interface used here (for --dry-run where transformers is absent):
    model.model(input_ids) -> .last_hidden_state, model.lm_head, model(input_ids, labels=) -> .loss/.logits,
    gradient_checkpointing_enable(...). Built from tools/measure/cpu_saved.py's blocks (eager only)."""

    def __new__(cls, cfg, dtype, device):
        import functools

        import torch
        import torch.nn as nn
        from torch.utils.checkpoint import checkpoint

        sys.path.insert(0, HERE)
        import cpu_saved as cs

        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
                self.layers = nn.ModuleList([cs.DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
                self.norm = cs.LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
                self.gradient_checkpointing = False
                self.ckpt_kwargs = {}

            def forward(self, input_ids, use_cache=False):
                h = self.embed_tokens(input_ids)
                b, s = input_ids.shape
                pos, mask = cs.model_constants(cfg, b, s, h.dtype)
                for layer in self.layers:
                    if self.gradient_checkpointing and self.training:
                        fn = functools.partial(layer.__call__, position_embeddings=pos, attention_mask=mask)
                        h = checkpoint(fn, h, **self.ckpt_kwargs)
                    else:
                        h = layer(h, position_embeddings=pos, attention_mask=mask)
                return _Out(last_hidden_state=self.norm(h))

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = Base()
                self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
                self.config = SimpleNamespace(vocab_size=cfg["vocab_size"], use_cache=False)

            def get_decoder(self):
                return self.model

            def get_output_embeddings(self):
                return self.lm_head

            def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
                self.model.gradient_checkpointing = True
                self.model.ckpt_kwargs = dict(gradient_checkpointing_kwargs or {})

            def forward(self, input_ids, labels=None, use_cache=False):
                h = self.model(input_ids).last_hidden_state
                logits = self.lm_head(h)
                loss = None
                if labels is not None:  # transformers ForCausalLMLoss
                    lg = logits.float()
                    lab = nn.functional.pad(labels, (0, 1), value=-100)[..., 1:].contiguous()
                    loss = nn.functional.cross_entropy(lg.view(-1, lg.size(-1)), lab.view(-1), ignore_index=-100)
                return _Out(loss=loss, logits=logits)

        torch.manual_seed(0)
        return Model().to(device=device, dtype=dtype)


# --------------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------------


class Lion:
    """Lion (Chen et al. 2023), one state (exp_avg) per parameter, written per parameter like lion-pytorch."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.wd = lr, betas, weight_decay
        self.state = {}

    def step(self):
        import torch

        b1, b2 = self.betas
        with torch.no_grad():
            for p in self.params:
                if p.grad is None:
                    continue
                m = self.state.get(p)
                if m is None:
                    m = self.state[p] = torch.zeros_like(p)
                update = m.clone().mul_(b1).add_(p.grad, alpha=1 - b1).sign_()
                p.mul_(1 - self.lr * self.wd).add_(update, alpha=-self.lr)
                m.mul_(b2).add_(p.grad, alpha=1 - b2)
                del update

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None


class MixedPrecision:
    """DeepSpeed-like bf16 mixed precision: the model is bf16, an fp32 master copy of every parameter is
    stepped by an fp32 optimizer; step() copies bf16 grads into fp32 master grads (one parameter at a time,
    freeing the bf16 grad), steps, copies the master weights back into the bf16 model."""

    def __init__(self, params, make_optimizer):
        import torch

        self.model_params = [p for p in params if p.requires_grad]
        self.master = [p.detach().to(torch.float32).clone().requires_grad_(True) for p in self.model_params]
        self.inner = make_optimizer(self.master)

    def step(self):
        import torch

        with torch.no_grad():
            for p, m in zip(self.model_params, self.master):
                if p.grad is not None:
                    m.grad = p.grad.to(torch.float32)
                    p.grad = None
            self.inner.step()
            for p, m in zip(self.model_params, self.master):
                p.copy_(m)
                m.grad = None

    def zero_grad(self, set_to_none=True):
        for p in self.model_params:
            p.grad = None
        for m in self.master:
            m.grad = None


def make_optimizer(name, params, notes):
    import torch

    params = list(params)
    if name == "adamw":
        try:
            return torch.optim.AdamW(params, lr=1e-5, foreach=True)
        except TypeError:
            notes.append("AdamW(foreach=) unsupported; default AdamW")
            return torch.optim.AdamW(params, lr=1e-5)
    if name == "adamw-forloop":
        return torch.optim.AdamW(params, lr=1e-5, foreach=False)
    if name == "adamw-fused":
        try:
            opt = torch.optim.AdamW(params, lr=1e-5, fused=True)
            return opt
        except (TypeError, RuntimeError) as e:
            notes.append(f"AdamW(fused=True) unavailable here ({type(e).__name__}); used foreach AdamW")
            return torch.optim.AdamW(params, lr=1e-5, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-5, momentum=0.0, foreach=True)
    if name == "sgd-momentum":
        return torch.optim.SGD(params, lr=1e-5, momentum=0.9, foreach=True)
    if name == "lion":
        return Lion(params, lr=1e-5)
    if name == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=1e-5, scale_parameter=False, relative_step=False, warmup_init=False)
    raise ValueError(f"unknown optimizer {name}")


# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------


def chunked_loss(model, input_ids, labels, n_chunks=8):
    """torchtune CEWithChunkedOutputLoss style: the output layer is applied per sequence chunk (all chunks'
    logits computed first, as torchtune's models return a list), each chunk upcast to fp32 only inside its own
    cross_entropy(reduction='sum'), summed and divided by the number of label tokens."""
    import torch.nn.functional as F

    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    out = decoder(input_ids=input_ids, use_cache=False)
    h = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    del out
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else model.lm_head
    logits = [head(c) for c in h.chunk(n_chunks, dim=1)]
    shift = F.pad(labels, (0, 1), value=-100)[..., 1:]
    targets = [t.reshape(-1) for t in shift.chunk(n_chunks, dim=1)]
    total = 0.0
    for lg, t in zip(logits, targets):
        total = total + F.cross_entropy(lg.reshape(-1, lg.size(-1)).float(), t, ignore_index=-100, reduction="sum")
    return total / (shift != -100).sum()


# --------------------------------------------------------------------------------------------------
# One setting (runs in the child process)
# --------------------------------------------------------------------------------------------------


class Mem:
    def __init__(self, cuda):
        import torch

        self.torch = torch
        self.cuda = cuda

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset(self):
        self.sync()
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
        return time.perf_counter()

    def read(self, t0):
        self.sync()
        out = {"time_s": round(time.perf_counter() - t0, 6)}
        if self.cuda:
            c = self.torch.cuda
            stats = c.memory_stats()
            out.update({
                "max_allocated": c.max_memory_allocated(),
                "max_reserved": c.max_memory_reserved(),
                "allocated_end": c.memory_allocated(),
                "reserved_end": c.memory_reserved(),
                "stats": {k: stats.get(k) for k in STATS_KEYS if k in stats},
            })
        return out

    def info(self):
        if not self.cuda:
            return None
        free, total = self.torch.cuda.mem_get_info()
        reserved = self.torch.cuda.memory_reserved()
        return {"free": free, "total": total, "reserved": reserved, "non_pytorch": total - free - reserved}


def _is_oom(e):
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    return isinstance(e, oom_types) or "out of memory" in str(e).lower()


def run_setting(spec, cfg_dict, args, dry):
    import torch

    cfg_dict = spec.get("model") or cfg_dict  # hf-cpu grid: each setting has its own config

    cuda = torch.cuda.is_available() and not dry
    device = "cuda" if cuda else "cpu"
    mem = Mem(cuda)
    res = {"spec": spec, "status": "ok", "notes": [], "device": device}
    if cuda:
        torch.cuda.init()
        torch.zeros(1, device="cuda")  # create the context so mem_get_info sees it
        res["gpu"] = torch.cuda.get_device_name(0)
        res["mem_info_before_model"] = mem.info()
    res["torch"] = torch.__version__
    try:
        import transformers

        res["transformers"] = transformers.__version__
    except Exception:
        res["transformers"] = None
    res["python"] = platform.python_version()
    res["alloc_conf"] = os.environ.get("PYTORCH_CUDA_ALLOC_CONF")

    prec = spec["precision"]
    wdtype = torch.bfloat16 if prec in ("bf16", "mixed") else torch.float32
    autocast = prec == "amp"
    attention = spec["attention"]
    phase = "build"
    try:
        torch.manual_seed(0)
        if res["transformers"] and not args.fallback_model:
            model = build_hf_model(cfg_dict, wdtype, attention, device)
            res["model_impl"] = f"transformers {type(model).__name__}"
        else:
            if attention != "eager":
                res["notes"].append(f"fallback model has eager attention only (asked {attention})")
            model = TinyCausalLM(cfg_dict, wdtype, device)
            res["model_impl"] = "tools/measure TinyCausalLM (cpu_saved.py blocks)"
        model.train()
        if hasattr(model, "config"):
            model.config.use_cache = False
        if spec["grad_ckpt"] == "full":
            # transformers 5 defaults to non-reentrant checkpointing
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        n_params = sum(p.numel() for p in model.parameters())
        res["n_params"] = n_params
        res["param_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
        if cuda:
            res["allocated_after_model"] = torch.cuda.memory_allocated()

        g = torch.Generator(device="cpu").manual_seed(1)
        vocab = cfg_dict["vocab_size"]
        input_ids = torch.randint(0, vocab, (spec["batch"], spec["seq"]), generator=g).to(device)
        labels = input_ids.clone()
        extra = {}  # padding mask / packed documents, as hf_measure.py
        if spec.get("mask") == "padding":
            am = torch.ones_like(input_ids)
            am[0, 3 * spec["seq"] // 4:] = 0
            labels[0, 3 * spec["seq"] // 4:] = -100
            extra["attention_mask"] = am
        elif spec.get("mask") == "packed":
            half = spec["seq"] // 2
            pos = torch.cat([torch.arange(half), torch.arange(spec["seq"] - half)])
            extra["position_ids"] = pos.expand(spec["batch"], -1).contiguous().to(device)
        ac = (lambda: torch.autocast(device_type=device, dtype=torch.bfloat16)) if autocast else contextlib.nullcontext

        def forward_loss():
            with ac():
                if spec["loss"] == "chunked":
                    return chunked_loss(model, input_ids, labels)
                out = model(input_ids=input_ids, labels=labels, use_cache=False, **extra)
                loss = out.loss
                del out  # like transformers.Trainer: only the loss lives on into backward
                return loss

        if spec["kind"] == "saved":
            phase = "saved"
            res["saved"] = measure_saved(model, forward_loss, cfg_dict, spec)
            res["status"] = "ok"
            return res

        phase = "optimizer"
        notes = res["notes"]
        if spec["optimizer"] == "adafactor" and not res["transformers"]:
            res["status"] = "skipped"
            res["error"] = "adafactor needs transformers.optimization.Adafactor; transformers is not installed"
            return res
        if prec == "mixed":
            opt = MixedPrecision(model.parameters(), lambda ps: make_optimizer(spec["optimizer"], ps, notes))
        else:
            opt = make_optimizer(spec["optimizer"], model.parameters(), notes)
        steps = []
        for i in range(args.warmup + args.measure):
            rec = {"step": i, "measured": i >= args.warmup}
            if cuda:
                rec["allocated_at_start"] = torch.cuda.memory_allocated()
            phase = "forward"
            t0 = mem.reset()
            loss = forward_loss()
            rec["forward"] = mem.read(t0)
            rec["loss"] = float(loss.detach().float().cpu())
            phase = "backward"
            t0 = mem.reset()
            loss.backward()
            del loss
            rec["backward"] = mem.read(t0)
            phase = "optimizer_step"
            t0 = mem.reset()
            opt.step()
            opt.zero_grad(set_to_none=True)
            rec["optimizer_step"] = mem.read(t0)
            steps.append(rec)
        res["steps"] = steps
        if cuda:
            res["mem_info_after_run"] = mem.info()
        if dry:
            res["notes"].append("dry run: CPU, no CUDA memory statistics")
    except Exception as e:  # OOM and anything else: record and report
        res["status"] = "oom" if _is_oom(e) else "error"
        res["failed_phase"] = phase
        res["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
        res["traceback"] = traceback.format_exc()[-4000:]
        if cuda:
            try:
                res["failed_max_allocated"] = torch.cuda.max_memory_allocated()
                res["failed_stats"] = {k: torch.cuda.memory_stats().get(k) for k in STATS_KEYS}
                res["mem_info_after_run"] = mem.info()
            except Exception:
                pass
    return res


def measure_saved(model, forward_loss, cfg_dict, spec):
    """Saved-tensor accounting (cpu_saved.Tracker) on the whole model: storages grouped by the decoder layer
    (module path ...layers.N...) where autograd first saved them; the rest (final norm, lm_head, loss) is the
    head. The embedding output counts as data."""
    import torch

    sys.path.insert(0, HERE)
    import cpu_saved as cs

    params = list(model.parameters())
    tr = cs.Tracker(params, [], {})
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else model.model.embed_tokens

    def mark_data(mod, inp, out):
        if out.grad_fn is not None:
            tr.data_roots[id(out.grad_fn)] = out.grad_fn

    h_emb = emb.register_forward_hook(mark_data)
    handles = tr.attach(model)
    with tr.hooks():
        loss = forward_loss()
        tr.attribute([loss.grad_fn])
        tr.phase = "backward"
        loss.backward()
    for h in handles + [h_emb]:
        h.remove()
    model.zero_grad(set_to_none=True)
    layers = {}
    head = {"act": 0, "act_t113": 0, "rows": []}
    n_layers = cfg_dict["num_hidden_layers"]
    for info in sorted(tr.storages.values(), key=lambda i: i["order"]):
        if info["phase"] != "forward":
            continue
        mod = info["module"]
        idx = None
        parts = mod.split(".")
        if "layers" in parts:
            k = parts.index("layers")
            if k + 1 < len(parts) and parts[k + 1].isdigit():
                idx = int(parts[k + 1])
        cls = info["class"]
        row = [info["nbytes"], info["dtype"], info["shape"], cls if cls != "const" else "const:" + info.get("const", ""),
               mod, cs.short(info["producer"]), cs.compress_saved_by(info["saved_by"])]
        tgt = layers.setdefault(idx, {"act": 0, "act_t113": 0, "param": 0, "param_cast": 0, "const": 0,
                                      "rows": []}) if idx is not None else head
        if cls in tgt:
            tgt[cls] = tgt.get(cls, 0) + info["nbytes"]
        else:
            tgt[cls] = info["nbytes"]
        tgt["rows"].append(row)
    per_layer = [layers[i]["act"] for i in sorted(layers)]
    return {"per_layer_act": per_layer, "layers": {str(k): v for k, v in sorted(layers.items())}, "head": head,
            "n_layers": n_layers}


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------

# Tolerances of the accuracy test: allocated holds the project's goal (worst error 8%, median 3%);
# reserved and nvidia-smi add the caching allocator's reserve and driver memory, which vary by run.
TOL = {"allocated": 8, "reserved": 15, "nvidia-smi": 15, "saved_per_layer": 2, "saved_head": 2}


def records_for(res, cfg_dict, model_tag, date):
    spec = res["spec"]
    cfg_dict = spec.get("model") or cfg_dict
    rid = spec_id(spec, model_tag)
    setup = {"seq": spec["seq"], "batch": spec["batch"], "grad_accum": 1, "precision": spec["precision"],
             "optimizer": "adamw" if spec["optimizer"] == "adamw-forloop" else spec["optimizer"],
             "attention": spec["attention"], "grad_ckpt": spec["grad_ckpt"], "loss": spec["loss"]}
    if spec.get("mask", "none") != "none":
        setup["mask"] = "explicit"
    where = res.get("gpu") or "CPU (dry run)"
    source = (f"tools/measure/gpu_step.py on {where}, torch {res['torch']}, transformers {res['transformers']}, "
              f"{date}")
    base_notes = "; ".join(res.get("notes", []))
    recs = []
    dry = res["device"] == "cpu"

    def rec(suffix, metric, phase, value, notes, detail):
        r = {"id": f"{rid}-{suffix}", "model": cfg_dict, "setup": setup, "metric": metric, "phase": phase,
             "value_bytes": int(value) if value is not None else 0, "tolerance_pct": TOL[metric],
             "source": source, "notes": (notes + ("; " + base_notes if base_notes else "")).strip("; "),
             "detail": detail}
        if dry:
            r["dry_run"] = True
        recs.append(r)

    if spec["kind"] == "saved":
        s = res["saved"]
        pl = s["per_layer_act"]
        if pl:
            rows0 = s["layers"][sorted(s["layers"], key=int)[0]]
            rec("saved-layer", "saved_per_layer", "layer", max(pl),
                f"saved_tensors_hooks on the transformers model, layers' act bytes {pl}; value = max over layers",
                {"per_layer_act": pl, "storage_columns": _cols(), "storages_layer0": rows0["rows"],
                 "param_bytes_layer0": rows0.get("param", 0), "param_cast_bytes_layer0": rows0.get("param_cast", 0)})
        rec("saved-head", "saved_head", "head", s["head"]["act"],
            "saved_tensors_hooks on the transformers model: final norm + lm_head + loss",
            {"storage_columns": _cols(), "storages": s["head"]["rows"]})
        return recs

    measured = [st for st in res["steps"] if st["measured"]]
    if dry or not measured:
        def val(ph, key):
            return 0
    else:
        def val(ph, key):
            return max(st[ph][key] for st in measured)
    detail = {
        "param_bytes": res.get("param_bytes"), "n_params": res.get("n_params"),
        "allocated_after_model": res.get("allocated_after_model"),
        "allocated_at_step_start": [st.get("allocated_at_start") for st in res["steps"]],
        "phase_end_allocated": {ph: [st[ph].get("allocated_end") for st in res["steps"]]
                                for ph in ("forward", "backward", "optimizer_step")},
        "mem_info_before_model": res.get("mem_info_before_model"),
        "mem_info_after_run": res.get("mem_info_after_run"),
        "model_impl": res.get("model_impl"),
        "steps_warmup_measured": [sum(1 for s in res["steps"] if not s["measured"]), len(measured)],
    }
    for metric, key in (("allocated", "max_allocated"), ("reserved", "max_reserved")):
        peaks = {}
        for ph in ("forward", "backward", "optimizer_step"):
            v = val(ph, key)
            peaks[ph] = v
            rec(f"{metric}-{ph}", metric, ph, v,
                f"torch.cuda.{key.replace('max_', 'max_memory_')} over the {ph} phase (peak stats reset at its "
                "start), max over measured steps",
                dict(detail, stats={ph: [st[ph].get("stats") for st in measured]}) if metric == "allocated" and
                ph == "forward" else {"see": f"{rid}-allocated-forward"})
        rec(f"{metric}-peak", metric, "peak", max(peaks.values()) if peaks else 0,
            f"max of the three phase peaks ({key}) of the measured steps", {"phases": peaks})
    mi = res.get("mem_info_after_run") or {}
    used = (mi.get("total", 0) - mi.get("free", 0)) if mi else 0
    rec("nvidia-smi-peak", "nvidia-smi", "peak", used,
        "device memory in use at the end of the run (total - free from cudaMemGetInfo); the caching allocator "
        "has not released its pool, so this is reserved peak + non-PyTorch memory (CUDA context, libraries)",
        {"non_pytorch_before_model": (res.get("mem_info_before_model") or {}).get("non_pytorch"),
         "non_pytorch_after_run": mi.get("non_pytorch")})
    return recs


def _cols():
    return ["storage_nbytes", "dtype", "shape_of_first_saved_view", "class", "module",
            "producer (grad_fn less 'Backward')", "saved_by"]


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------

ABOUT = ("GPU memory of real training steps of transformers causal LMs (random init, num_hidden_layers "
         "overridden), one fresh process per setting, measured by tools/measure/gpu_step.py. allocated/reserved: "
         "torch.cuda.max_memory_allocated/max_memory_reserved per phase (forward incl. loss; backward; "
         "optimizer.step + zero_grad(set_to_none=True)), peak stats reset at each phase start, max over the "
         "measured steps after warm-up; phase peak = max of the three. nvidia-smi: device memory in use at the end "
         "(cudaMemGetInfo total - free). saved_per_layer/saved_head: saved-tensor hooks on the same models. "
         "tolerance_pct: allocated 8% (the project's worst-case goal), reserved and nvidia-smi 15% (allocator "
         "reserve and driver memory vary), saved bytes 2%.")


def model_tag_of(cfg, layers):
    mt = cfg.get("model_type", "model")
    h = cfg.get("hidden_size")
    return f"{mt}-h{h}-L{cfg.get('num_hidden_layers', layers)}"


def main(argv=None):
    ap = argparse.ArgumentParser(description="GPU memory per training phase for transformers models")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--grid", default="h100-small", choices=sorted(GRIDS))
    ap.add_argument("--config", help="config.json (default: built-in Llama-3-8B)")
    ap.add_argument("--layers", type=int, default=2, help="num_hidden_layers override (0 = keep)")
    ap.add_argument("--only", action="append", default=[], help="run settings whose id contains this (repeatable)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--measure", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=240, help="seconds per setting")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny Llama config, grid 'dry', no CUDA stats")
    ap.add_argument("--fallback-model", action="store_true", help="use the hand-written model, not transformers")
    ap.add_argument("--in-process", action="store_true", help="no subprocess per setting (debugging)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--run-one", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.dry_run:
        args.grid = "dry" if args.grid == "h100-small" else args.grid
        cfg = dict(TINY_LLAMA) if not args.config else load_config_dict(args.config, args.layers)
        args.warmup, args.measure = min(args.warmup, 1), min(args.measure, 1)
        if not have_transformers():
            args.fallback_model = True
    else:
        cfg = load_config_dict(args.config, args.layers)

    if args.run_one:  # child
        spec = json.loads(args.run_one)
        res = run_setting(spec, json.loads(os.environ["GPU_STEP_CFG"]), args, args.dry_run)
        with open(args.result, "w") as f:
            json.dump(res, f)
        return 0

    specs = GRIDS[args.grid]
    if isinstance(specs, str):
        specs = hf_grid(quick=specs.endswith("quick"))
    tag = model_tag_of(cfg, args.layers)
    if args.only:
        specs = [s for s in specs if any(o in spec_id(s, tag) for o in args.only)]
    if args.list:
        for s in specs:
            print(spec_id(s, tag))
        print(len(specs), "settings")
        return 0
    if not args.out:
        ap.error("--out is required")
    os.makedirs(os.path.join(args.out, "raw"), exist_ok=True)
    date = datetime.date.today().isoformat()
    records, failed, skipped = [], [], []
    t_all = time.time()
    for i, spec in enumerate(specs):
        sid = spec_id(spec, tag)
        t0 = time.time()
        if args.in_process:
            res = run_setting(spec, cfg, args, args.dry_run)
        else:
            res = _run_child(spec, cfg, args, sid)
        res["id"] = sid
        res["wall_s"] = round(time.time() - t0, 2)
        with open(os.path.join(args.out, "raw", sid + ".json"), "w") as f:
            json.dump(res, f, indent=1)
        if res["status"] == "ok":
            records.extend(records_for(res, cfg, tag, date))
        elif res["status"] == "skipped":
            skipped.append({"id": sid, "why": res.get("error")})
        else:
            failed.append({k: res.get(k) for k in ("id", "spec", "status", "failed_phase", "error", "gpu", "torch",
                                                    "transformers", "failed_max_allocated", "mem_info_after_run")})
        print(f"[{i + 1}/{len(specs)}] {sid}: {res['status']} ({res['wall_s']}s)", file=sys.stderr, flush=True)
    name = "dry_run_records.json" if args.dry_run else "records.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump({"about": ABOUT, "records": records}, f, indent=1)
    with open(os.path.join(args.out, "failed.json"), "w") as f:
        json.dump({"failed": failed, "skipped": skipped}, f, indent=1)
    print(f"{len(records)} records, {len(failed)} failed, {len(skipped)} skipped settings, "
          f"{time.time() - t_all:.0f}s -> {args.out}", file=sys.stderr)
    return 0 if not failed else 1


def _run_child(spec, cfg, args, sid):
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--run-one", json.dumps(spec), "--result", path,
           "--warmup", str(args.warmup), "--measure", str(args.measure)]
    if args.dry_run:
        cmd.append("--dry-run")
    if args.fallback_model:
        cmd.append("--fallback-model")
    env = dict(os.environ, GPU_STEP_CFG=json.dumps(cfg))
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else str(e.stderr)
    try:
        with open(path) as f:
            res = json.load(f)
    except Exception:
        res = {"spec": spec, "status": "crashed", "error": f"child rc={rc}: {(err or '')[-3000:]}"}
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
    return res


if __name__ == "__main__":
    sys.exit(main())
