#!/usr/bin/env python3
"""Measure, on CPU, the peak bytes of live tensor storages during a full training step of a small causal LM,
phase by phase (the CPU analogue of torch.cuda.max_memory_allocated with reset_peak_memory_stats at each phase
start).

Tracker: a TorchDispatchMode sees every aten op below autograd -- the forward, the backward (on CPU the autograd
engine runs backward ops on the calling thread; --self-test checks the mode sees them) and the optimizer step.
Each output tensor is reduced to its storage (StorageImpl address); a storage not yet tracked adds its nbytes to
`live` and is followed with a weak reference to the StorageImpl (UntypedStorage._weak_ref / _expired, the same
mechanism torch.multiprocessing uses), so a storage counts once however many views share it and is subtracted
when it is freed.  Frees are collected lazily: before `live` could pass the current peak, expired storages are
swept, so every peak is exact at op granularity (allocations inside one aten kernel that the kernel frees
before returning are not seen).  Everything -- parameters, inputs, optimizer states -- is created under the
mode, so `live` is the bytes of all tensors of the run.

The model is a Llama causal LM built from tools/measure/cpu_saved.py's decoder layers (imported, unchanged):
embedding, L DecoderLayer, final LlamaRMSNorm, untied lm_head, transformers' ForCausalLMLoss; the head is
written here with transformers' variable lifetimes (LlamaForCausalLM keeps `logits` while ForCausalLMLoss
makes its `.float()` copy; LlamaModel's output keeps the final-norm output; the model output is dropped before
backward as Trainer.compute_loss does).

Nothing here computes an expected size: every number written is a measured sum of storage bytes.

Run:  /usr/bin/python3 tools/measure/cpu_peak.py --out tests/data/measured/cpu_peak.json
      /usr/bin/python3 tools/measure/cpu_peak.py --self-test
      /usr/bin/python3 tools/measure/cpu_peak.py --list
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import gc
import json
import os
import sys
import time
import types

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.checkpoint import checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cpu_saved as cs  # noqa: E402  (transformers-equivalent blocks)

US = getattr(torch, "UntypedStorage", None) or getattr(torch.storage, "UntypedStorage", None) or torch._UntypedStorage
aten = torch.ops.aten


def _storage(t):
    return t.untyped_storage() if hasattr(t, "untyped_storage") else t._storage()


DT = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16", torch.int64: "i64",
      torch.bool: "bool", torch.uint8: "u8", torch.int32: "i32", torch.float64: "fp64"}

# --------------------------------------------------------------------------------------------------
# Live-storage tracker
# --------------------------------------------------------------------------------------------------


MARK_BEGIN, MARK_END = 7777777, 7777779


def allocator_phases(prof):
    """From torch.profiler's CPU memory events (every c10 CPU allocation and free, in order), the bytes
    allocated at each phase's start, its peak and its end, relative to the phase start, between the tracker's
    marker allocations. Independent of the tracker: it sees the allocator, including buffers one aten kernel
    allocates and frees internally."""
    try:
        events = [e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except Exception:  # profiler API differs
        return None
    cur, seg, out = 0, None, []
    for n in events:
        if n == MARK_BEGIN:
            seg = [cur, cur]
            continue
        if n in (-MARK_BEGIN, -MARK_END):
            continue
        if n == MARK_END:
            if seg is not None:
                out.append([seg[1] - seg[0], cur - seg[0]])
            seg = None
            continue
        cur += n
        if seg is not None and cur > seg[1]:
            seg[1] = cur
    return out


class Phase:
    __slots__ = ("name", "start", "end", "peak", "peak_raw", "peak_op", "peak_opidx", "nops", "snap", "segs",
                 "start_raw", "end_raw")

    def __init__(self, name, live, live_raw):
        self.name = name
        self.start = self.peak = live
        self.start_raw = self.peak_raw = live_raw
        self.end = self.end_raw = None
        self.peak_op, self.peak_opidx, self.nops = "(phase start)", 0, 0
        self.snap = None  # serials of the storages live at the (adjusted) peak
        self.segs = []  # [label, live at segment start, segment peak, segment peak raw]


class LiveTracker(TorchDispatchMode):
    """Counts the bytes of live tensor storages; see the module docstring.

    `excluded` storages are torch-1.13 artefacts or host-side tensors (see the rules in __torch_dispatch__ and
    rng_patch): `live` counts them (the torch-1.13 CPU number, *_raw), `live - excl` leaves them out from the
    moment the op that marks them returns (what torch >= 2.2 keeps on the device)."""

    def __init__(self, emulate=True):
        super().__init__()
        self.st = {}  # StorageImpl address -> [weakref, nbytes, serial, excluded]
        self.info = {}  # serial -> [nbytes, producer op, shape, dtype]
        self.flags = {}  # serial -> set of tags ("saved", "t113", "adamw_denom", "param_cast")
        self.live = 0  # includes storages freed but not yet swept (an upper bound until sweep())
        self.excl = 0
        self.serial = 0
        self.nops = 0
        self.emulate = emulate
        self.phase = None
        self.phases = []
        self.snapshots = False
        self.param_keys = set()
        self.seg = None
        self.markers = False
        self.host_window = 0

    # ---- bookkeeping
    def key_of(self, t):
        s = _storage(t)
        return s._cdata, s

    def serial_of(self, t):
        e = self.st.get(_storage(t)._cdata)
        return e[2] if e else None

    def track(self, t, op="(manual)"):
        """Adds t's storage if not yet tracked (also used for tensors made outside aten ops, e.g. RNG states)."""
        k, s = self.key_of(t)
        n = s.nbytes()
        e = self.st.get(k)
        if e is not None:
            if e[1] != n:  # storage resized in place
                self.live += n - e[1]
                if e[3]:
                    self.excl += n - e[1]
                e[1] = n
                self.info[e[2]][0] = n
            return e[2]
        if n == 0:
            return None
        self.serial += 1
        self.st[k] = [s._weak_ref(), n, self.serial, False]
        self.info[self.serial] = [n, op, tuple(t.shape), DT.get(t.dtype, str(t.dtype))]
        self.live += n
        return self.serial

    def exclude(self, t, tag):
        e = self.st.get(_storage(t)._cdata)
        if e is None:
            return
        self.flags.setdefault(e[2], set()).add(tag)
        if self.emulate and not e[3]:
            e[3] = True
            self.excl += e[1]

    def sweep(self):
        expired = US._expired
        dead = [k for k, e in self.st.items() if expired(e[0])]
        for k in dead:
            w, n, _, ex = self.st.pop(k)
            US._free_weak_ref(w)
            self.live -= n
            if ex:
                self.excl -= n

    def exact(self):
        self.sweep()
        return self.live - self.excl, self.live

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.nops += 1
        name = None
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                if name is None:
                    name = str(func)
                self.track(t, name)
        # Storages left out of the adjusted count (torch-1.13-only or host-side), see the class docstring.
        # a. Allocations that torch >= 2.0 does not make, or that are host tensors in a CUDA run: left out
        #    before this op's peak check, i.e. never counted.
        if self.host_window:  # inside record_function.__init__ (torch 1.13: a torch.zeros(1) placeholder)
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.exclude(t, "host")
        elif func is aten._foreach_add.Scalar and args and isinstance(args[0], (list, tuple)) and args[0]:
            # foreach AdamW in torch 1.13: denom = _foreach_add(exp_avg_sq_sqrt, eps) is a second list of
            # parameter-sized temporaries; torch >= 2.0 adds eps in place (_foreach_add_), no allocation.
            e = self.st.get(_storage(args[0][0])._cdata)
            if e is not None and self.info[e[2]][1] == "aten._foreach_sqrt.default":
                for t in out:
                    self.exclude(t, "adamw_denom")
        elif func is torch.ops.profiler._record_function_enter.default:  # torch 1.13: the handle is a tensor
            self.exclude(out, "host")
        elif func is aten._to_copy.default and isinstance(args[0], torch.Tensor) and self.param_keys:
            if _storage(args[0])._cdata in self.param_keys:  # autocast's weight cast (or any param copy)
                e = self.st.get(_storage(out)._cdata)
                if e is not None:
                    self.flags.setdefault(e[2], set()).add("param_cast")
        self.check(name)
        # b. Tensors that torch >= 2.2 frees when this op returns: left out after this op's peak check.
        #    x.pow(2) consumed by mean.dim (LlamaRMSNorm variance): torch 1.13's MeanBackward1 keeps it
        #    (_saved_self) until backward; torch >= 2.2 keeps only numel, so the tensor dies when mean returns.
        if func is aten.mean.dim and isinstance(args[0], torch.Tensor):
            e = self.st.get(_storage(args[0])._cdata)
            if e is not None and self.info[e[2]][1] == "aten.pow.Tensor_Scalar":
                self.exclude(args[0], "t113")
        return out

    def check(self, opname):
        ph = self.phase
        if ph is None:
            return
        ph.nops += 1
        seg = self.seg
        # lazy: live - excl and live are upper bounds of the true values; sweep only when one could be a peak
        if self.live - self.excl <= seg[2] and self.live <= seg[3]:
            return
        adj, raw = self.exact()
        if raw > seg[3]:
            seg[3] = raw
            if raw > ph.peak_raw:
                ph.peak_raw = raw
        if adj > seg[2]:
            seg[2] = adj
            if adj > ph.peak:
                ph.peak = adj
                ph.peak_op, ph.peak_opidx = opname, ph.nops
                if self.snapshots:
                    ph.snap = [e[2] for e in self.st.values()]

    # ---- phases and segments
    def begin(self, name, segment="start"):
        """Starts a phase (like torch.cuda.reset_peak_memory_stats: peak = live now)."""
        self.end_phase()
        if self.markers:
            self._marker(MARK_BEGIN)
        adj, raw = self.exact()
        self.phase = Phase(name, adj, raw)
        if self.snapshots:
            self.phase.snap = [e[2] for e in self.st.values()]
        self.mark(segment)
        self.phases.append(self.phase)
        return self.phase

    def mark(self, label):
        """Starts a segment inside the current phase (e.g. one decoder layer's forward or backward)."""
        if self.phase is None:
            return
        adj, raw = self.exact()
        self.seg = [label, adj, adj, raw]
        self.phase.segs.append(self.seg)

    def end_phase(self):
        if self.phase is not None:
            adj, raw = self.exact()
            self.phase.end, self.phase.end_raw = adj, raw
            self.phase = None
            self.seg = None
            if self.markers:
                self._marker(MARK_END)

    @staticmethod
    def _marker(n):
        """An allocation of a distinctive size, outside any phase, that delimits phases in the allocator's
        event stream (allocator cross-check)."""
        m = torch.empty(n, dtype=torch.uint8)
        del m

    # ---- host-side tensors: checkpoint's RNG states (made by a C++ call that is no aten op: tracked by hand)
    # and torch.autograd.profiler.record_function's handles (the optimizer step is wrapped in one); in a CUDA run
    # these are CPU tensors, so they are left out of the adjusted count ("host")
    @contextlib.contextmanager
    def rng_patch(self):
        orig = torch.get_rng_state

        def get_rng_state():
            s = orig()
            self.track(s, "torch.get_rng_state")
            self.exclude(s, "host")  # a CPU tensor in a CUDA run: not device memory
            return s

        rf = torch.autograd.profiler.record_function
        rf_init = rf.__init__

        def record_function_init(obj, *a, **k):  # torch 1.13: a placeholder tensor torch.zeros(1) per instance
            self.host_window += 1
            try:
                rf_init(obj, *a, **k)
            finally:
                self.host_window -= 1

        torch.get_rng_state = get_rng_state
        rf.__init__ = record_function_init
        try:
            yield
        finally:
            torch.get_rng_state = orig
            rf.__init__ = rf_init

    def tag_saved(self, roots):
        """Tags ("saved") every storage that the autograd graph below `roots` holds for backward, by reading
        each node's _saved_* attributes (and a custom Function's saved_tensors). Reading creates aliases only,
        which are dropped here; --self-test checks that tagging changes no number."""
        seen = {}
        todo = [r for r in roots if r is not None]
        while todo:
            n = todo.pop()
            if id(n) in seen:
                continue
            seen[id(n)] = n
            vals = []
            for a in dir(n):
                if a.startswith("_saved_") and not a.endswith(("_sym_sizes", "_sym_strides")):
                    try:
                        vals.append(getattr(n, a))
                    except Exception:
                        pass
            if hasattr(n, "saved_tensors"):
                try:
                    vals.append(n.saved_tensors)
                except Exception:
                    pass
            v = None
            for v in tree_flatten(vals)[0]:
                if isinstance(v, torch.Tensor):
                    e = self.st.get(_storage(v)._cdata)
                    if e is not None:
                        self.flags.setdefault(e[2], set()).add("saved")
            vals = v = None
            for nxt, _ in n.next_functions:
                if nxt is not None:
                    todo.append(nxt)
        seen.clear()

    @contextlib.contextmanager
    def tag_recompute(self):
        """Reentrant checkpoint recomputes a layer in backward and calls torch.autograd.backward on it: tag
        the storages that recompute saved, before that backward runs."""
        orig = torch.autograd.backward

        def backward(tensors, *a, **k):
            ts = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
            self.tag_saved([t.grad_fn for t in ts if isinstance(t, torch.Tensor)])
            del ts
            return orig(tensors, *a, **k)

        torch.autograd.backward = backward
        try:
            yield
        finally:
            torch.autograd.backward = orig


# --------------------------------------------------------------------------------------------------
# Model: embedding + cpu_saved.DecoderLayer x L + final norm + lm_head + ForCausalLMLoss
# --------------------------------------------------------------------------------------------------


def llama_cfg(layers, vocab, precision):
    cfg = cs._llama(hidden=256, heads=8, kv=2, inter=896, vocab=vocab)
    keep = ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "vocab_size", "hidden_act", "rms_norm_eps", "tie_word_embeddings",
            "torch_dtype")
    cfg = {k: cfg[k] for k in keep}
    cfg["num_hidden_layers"] = layers
    cfg["torch_dtype"] = "bfloat16" if precision == "bf16" else "float32"
    return cfg


def for_causal_lm_loss(logits, labels, vocab_size, ignore_index=-100):
    """transformers.loss.loss_utils.ForCausalLMLoss (>= 4.46; num_items_in_batch=None -> reduction mean)."""
    logits = logits.float()
    labels = nn.functional.pad(labels, (0, 1), value=ignore_index)
    shift_labels = labels[..., 1:].contiguous()
    logits = logits.view(-1, vocab_size)
    shift_labels = shift_labels.view(-1)
    shift_labels = shift_labels.to(logits.device)
    return nn.functional.cross_entropy(logits, shift_labels, ignore_index=ignore_index, reduction="mean")


def _variance_sum(self, hidden_states):
    """LlamaRMSNorm with the variance as (x*x).sum/h instead of x.pow(2).mean: the same values and the same
    saved tensors in torch 1.13 as x.pow(2).mean in torch >= 2.2 (no x^2 kept). Used by --check-norm only."""
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(torch.float32)
    variance = (hidden_states * hidden_states).sum(-1, keepdim=True) / hidden_states.shape[-1]
    hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
    return self.weight * hidden_states.to(input_dtype)


class CausalLM(nn.Module):
    """LlamaForCausalLM (eager attention, use_cache=False), transformers 4.5x code path."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([cs.DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = cs.LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.gradient_checkpointing = False
        self.tracker = None

    def _mark(self, label, h=None):
        """Forward segment boundary; a hook on h marks the matching backward boundary (h's gradient is
        complete when everything after h in the forward has been back-propagated)."""
        tr = self.tracker
        if tr is None:
            return
        tr.mark("fw." + label)
        if h is not None and h.requires_grad:
            nxt = {"head": "bw.layer%d" % (len(self.layers) - 1)}.get(label)
            if nxt is None:
                i = int(label[5:])
                nxt = "bw.layer%d" % (i - 1) if i > 0 else "bw.embed"
            h.register_hook(lambda g, nxt=nxt: tr.mark(nxt))

    def model(self, input_ids):  # LlamaModel.forward
        self._mark("embed")
        inputs_embeds = self.embed_tokens(input_ids)
        b, s = input_ids.shape
        position_embeddings, causal_mask = cs.model_constants(self.cfg, b, s, inputs_embeds.dtype)
        hidden_states = inputs_embeds
        for i, decoder_layer in enumerate(self.layers):
            self._mark("layer%d" % i, hidden_states)
            if self.gradient_checkpointing and self.training:  # GradientCheckpointingLayer, use_reentrant=True
                fn = functools.partial(decoder_layer.__call__, position_embeddings=position_embeddings,
                                       attention_mask=causal_mask)
                hidden_states = checkpoint(fn, hidden_states, use_reentrant=True)
            else:
                hidden_states = decoder_layer(hidden_states, position_embeddings=position_embeddings,
                                              attention_mask=causal_mask)
        self._mark("head", hidden_states)
        hidden_states = self.norm(hidden_states)
        return types.SimpleNamespace(last_hidden_state=hidden_states)

    def forward(self, input_ids, labels):  # LlamaForCausalLM.forward, logits_to_keep=0
        outputs = self.model(input_ids)
        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-0, None)
        logits = self.lm_head(hidden_states[:, slice_indices, :])
        loss = for_causal_lm_loss(logits, labels, self.cfg["vocab_size"])
        return {"loss": loss, "logits": logits}  # CausalLMOutputWithPast


def make_optimizer(name, params):
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-5, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-5, momentum=0.0, foreach=True)
    if name == "sgd-momentum":
        return torch.optim.SGD(params, lr=1e-5, momentum=0.9, foreach=True)
    raise ValueError(name)


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------

WARMUP = 2


def _sum_storages(tr, tensors):
    seen, tot = set(), 0
    for t in tensors:
        if isinstance(t, torch.Tensor):
            k, s = tr.key_of(t)
            if k not in seen:
                seen.add(k)
                tot += s.nbytes()
    return tot


def run(spec, emulate=True, saved_tags=True, patched_norm=False, alloc_check=True):
    """spec: dict(layers, vocab, seq, batch, precision, optimizer, grad_ckpt, grad_accum). Returns the measured
    step's phases and the run's classes of storages."""
    torch.manual_seed(0)
    gc.collect()
    cfg = llama_cfg(spec["layers"], spec["vocab"], spec["precision"])
    wdt = torch.bfloat16 if spec["precision"] == "bf16" else torch.float32
    amp = spec["precision"] == "amp"
    tr = LiveTracker(emulate=emulate)
    ga = spec["grad_accum"]
    res = {"steps": []}
    with tr, tr.rng_patch():
        model = CausalLM(cfg).to(wdt).train()
        if patched_norm:
            for m in model.modules():
                if isinstance(m, cs.LlamaRMSNorm):
                    m.forward = types.MethodType(_variance_sum, m)
        model.gradient_checkpointing = spec["grad_ckpt"] == "full"
        params = list(model.parameters())
        tr.param_keys = {tr.key_of(p)[0] for p in params}
        opt = make_optimizer(spec["optimizer"], params)
        g = torch.Generator().manual_seed(1)
        for step in range(WARMUP + 1):
            measured = step == WARMUP
            tr.snapshots = measured
            model.tracker = tr if measured else None
            gc.collect()
            adj0, raw0 = tr.exact()
            # the step's micro-batches exist for the whole step (Trainer's get_batch_samples)
            batch = []
            for _ in range(ga):
                ids = torch.randint(0, cfg["vocab_size"], (spec["batch"], spec["seq"]), generator=g)
                batch.append((ids, ids.clone()))
            if measured:
                tr.flags = {}  # tags of this step only
                res["live_step_start"] = adj0
                res["live_step_start_torch_1_13"] = raw0
                res["opt_state_bytes"] = _sum_storages(
                    tr, [v for s in opt.state.values() for v in s.values()])
                res["param_bytes"] = _sum_storages(tr, params)
                res["input_bytes"] = _sum_storages(tr, [t for mb in batch for t in mb])
                input_serials = {tr.serial_of(t) for mb in batch for t in mb}
            grad_serials = set()
            prof = None
            if measured and alloc_check:
                prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
                prof.__enter__()
                tr.markers = True
            for m in range(ga):
                ids, labels = batch[m]
                tr.begin(f"forward.{m}")
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                    outputs = model(ids, labels)
                    loss = outputs["loss"]
                    if ga > 1:
                        loss = loss / ga
                    del outputs  # Trainer.compute_loss: only the loss lives on
                tr.end_phase()
                if measured and saved_tags:
                    tr.tag_saved([loss.grad_fn])
                tr.begin(f"backward.{m}", "bw.head")
                with tr.tag_recompute() if measured and saved_tags else contextlib.nullcontext():
                    loss.backward()
                del loss
                grad_serials |= {tr.serial_of(p.grad) for p in params if p.grad is not None}
                if measured and m == ga - 1:
                    tr.end_phase()
                    res["grad_bytes"] = _sum_storages(tr, [p.grad for p in params])
            tr.begin("optimizer_step")
            opt.step()
            opt.zero_grad(set_to_none=True)
            tr.end_phase()
            if prof is not None:
                tr.markers = False
                prof.__exit__(None, None, None)
                res["allocator"] = allocator_phases(prof)
                prof = None
            del batch, ids, labels
            adj1 = tr.exact()[0]
            gc.collect()
            adj2, _ = tr.exact()
            res["steps"].append({"start": adj0, "end": adj1, "freed_by_gc": adj1 - adj2})
            if measured:
                res["phases"] = list(tr.phases)
                res["opt_state_bytes_after"] = _sum_storages(
                    tr, [v for s in opt.state.values() for v in s.values()])
                state_serials = {tr.serial_of(v) for s in opt.state.values() for v in s.values()
                                 if isinstance(v, torch.Tensor)}
                param_serials = {tr.serial_of(p) for p in params}
            if not measured:
                tr.phases = []
        res["classes"] = (param_serials, grad_serials, state_serials, input_serials)
        res["tracker"] = tr
        model.tracker = None
    return res


CLASS_ORDER = ("param", "grad", "opt_state", "input", "param_cast", "saved", "other")
EXCLUDED_TAGS = ("t113", "adamw_denom", "host")


def classify(res, serials):
    """Bytes per class of the given storage serials (the live storages at a peak)."""
    tr = res["tracker"]
    param, grad, state, inp = res["classes"]
    out = {c: 0 for c in CLASS_ORDER}
    excluded = {}
    others = []
    for s in serials:
        n = tr.info[s][0]
        f = tr.flags.get(s, ())
        ex = [t for t in EXCLUDED_TAGS if t in f]
        if tr.emulate and ex:
            excluded[ex[0]] = excluded.get(ex[0], 0) + n
            continue
        if s in param:
            c = "param"
        elif s in grad:
            c = "grad"
        elif s in state:
            c = "opt_state"
        elif s in inp:
            c = "input"
        elif "param_cast" in f:
            c = "param_cast"
        elif "saved" in f:
            c = "saved"
        else:
            c = "other"
            others.append(s)
        out[c] += n
    others.sort(key=lambda s: -tr.info[s][0])
    top = [[tr.info[s][0], tr.info[s][3], list(tr.info[s][2]), tr.info[s][1].replace("aten.", "")]
           for s in others[:3]]
    return out, top, excluded


# --------------------------------------------------------------------------------------------------
# Grid
# --------------------------------------------------------------------------------------------------


def spec(layers=2, vocab=2048, seq=256, batch=1, precision="fp32", optimizer="adamw", grad_ckpt="none", ga=1):
    return {"layers": layers, "vocab": vocab, "seq": seq, "batch": batch, "precision": precision,
            "optimizer": optimizer, "grad_ckpt": grad_ckpt, "grad_accum": ga}


P3 = ("fp32", "bf16", "amp")


def grid(quick=False):
    g = []
    if quick:
        return [spec(seq=128, precision=p) for p in P3] + [spec(seq=128, precision="amp", grad_ckpt="full"),
                                                            spec(seq=128, optimizer="sgd-momentum", ga=2)]
    for p in P3:  # shapes, L=2, vocab 2048, AdamW
        for s in (128, 256):
            for b in (1, 2):
                g.append(spec(seq=s, batch=b, precision=p))
    for p in P3:  # optimizers
        for o in ("sgd", "sgd-momentum"):
            g.append(spec(precision=p, optimizer=o))
    for p in P3:  # depth
        g.append(spec(layers=4, seq=128, batch=2, precision=p))
        g.append(spec(layers=4, seq=256, batch=2, precision=p))
    for p in P3:  # vocab 8192: the loss term dominates
        g.append(spec(vocab=8192, seq=128, batch=1, precision=p))
        g.append(spec(vocab=8192, seq=256, batch=2, precision=p))
    g.append(spec(layers=4, vocab=8192, seq=256, batch=2, precision="amp", optimizer="sgd"))
    for p in P3:  # full checkpointing
        g.append(spec(seq=256, batch=1, precision=p, grad_ckpt="full"))
        g.append(spec(layers=4, seq=256, batch=2, precision=p, grad_ckpt="full"))
    g.append(spec(layers=4, vocab=8192, seq=256, batch=2, precision="amp", grad_ckpt="full"))
    g.append(spec(seq=256, precision="bf16", optimizer="sgd-momentum", grad_ckpt="full"))
    # gradient accumulation: grads of micro-batch 1 stay alive through micro-batch 2's forward
    g.append(spec(seq=128, batch=1, precision="fp32", ga=2))
    g.append(spec(seq=256, batch=2, precision="bf16", ga=2))
    g.append(spec(seq=256, batch=1, precision="amp", optimizer="sgd-momentum", ga=2))
    g.append(spec(layers=4, seq=256, batch=1, precision="amp", grad_ckpt="full", ga=2))
    return g


def run_id(sp):
    v = "v8k" if sp["vocab"] == 8192 else "v2k"
    return (f"cpu-peak-llama-gqa-L{sp['layers']}-{v}-{sp['precision']}-{sp['optimizer']}-ckpt{sp['grad_ckpt']}"
            f"-s{sp['seq']}-b{sp['batch']}-ga{sp['grad_accum']}")


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------

PHASES = ("forward", "backward", "optimizer_step")


def phase_detail(res, ph):
    cls, top, excluded = classify(res, ph.snap or [])
    alloc = res.get("allocator")
    i = res["phases"].index(ph)
    d = {
        "live_start": ph.start, "live_end": ph.end, "peak_above_start": ph.peak - ph.start,
        "at_peak": {k: v for k, v in cls.items() if v},
        "excluded_live_at_peak": excluded,
        "peak_op": ph.peak_op.replace("aten.", ""), "peak_op_index": [ph.peak_opidx, ph.nops],
        "top_other_at_peak": top,
    }
    segs = [sg for sg in ph.segs if sg[0] != "start"]
    if segs:
        d["peak_segment"] = max(segs, key=lambda sg: sg[2])[0]
    if ph.start_raw != ph.start or ph.end_raw != ph.end:
        d["torch_1_13_live_start_end"] = [ph.start_raw, ph.end_raw]
    if alloc and len(alloc) == len(res["phases"]):
        # [allocator peak above phase start, allocator end - start] vs the tracker's torch-1.13 (raw) numbers
        d["allocator_check"] = {"allocator": alloc[i], "tracker_raw": [ph.peak_raw - ph.start_raw,
                                                                       ph.end_raw - ph.start_raw]}
    if segs:  # [label, live at segment start, segment peak - segment start]
        d["segments"] = [[sg[0], sg[1], sg[2] - sg[1]] for sg in segs]
    return d


NOTE = "Peak live tensor bytes in the phase, CPU tracker, torch-1.13-only storages left out; see 'about'."


def records_for(sp, res, source):
    rid = run_id(sp)
    cfg = llama_cfg(sp["layers"], sp["vocab"], sp["precision"])
    setup = {"seq": sp["seq"], "batch": sp["batch"], "grad_accum": sp["grad_accum"], "precision": sp["precision"],
             "optimizer": sp["optimizer"], "attention": "eager", "grad_ckpt": sp["grad_ckpt"], "loss": "full"}
    by = {p: [ph for ph in res["phases"] if ph.name.split(".")[0] == p] for p in PHASES}
    recs, peaks, peaks_raw = [], {}, {}
    for p in PHASES:
        phs = by[p]
        best = max(phs, key=lambda ph: ph.peak)
        peaks[p] = best.peak
        peaks_raw[p] = max(ph.peak_raw for ph in phs)
        det = phase_detail(res, best)
        det["value_bytes_torch_1_13"] = peaks_raw[p]
        if len(phs) > 1:
            det["micro_batches"] = [[ph.name, ph.start, ph.peak, ph.end] for ph in phs]
            det["micro_batch_of_peak"] = best.name
        recs.append({"id": f"{rid}-{p}", "model": cfg, "setup": setup, "metric": "allocated", "phase": p,
                     "device": "cpu", "value_bytes": int(best.peak), "tolerance_pct": 3, "source": source,
                     "notes": NOTE, "detail": det})
    top = max(PHASES, key=lambda p: peaks[p])
    det = {
        "value_bytes_torch_1_13": max(peaks_raw.values()),
        "phase_of_peak": top, "phase_peaks": peaks, "phase_peaks_torch_1_13": peaks_raw,
        "param_bytes": res["param_bytes"], "grad_bytes": res["grad_bytes"],
        "opt_state_bytes": res["opt_state_bytes"], "input_bytes": res["input_bytes"],
        "live_step_start": res["live_step_start"],
        "steps_start_end_freed_by_gc": [[s["start"], s["end"], s["freed_by_gc"]] for s in res["steps"]],
    }
    if res.get("norm_check"):
        det["patched_norm_check"] = res["norm_check"]
    if res.get("allocator") is not None and len(res["allocator"]) != len(res["phases"]):
        det["allocator_check_failed"] = f"{len(res['allocator'])} allocator phases for {len(res['phases'])}"
    recs.append({"id": f"{rid}-peak", "model": cfg, "setup": setup, "metric": "allocated", "phase": "peak",
                 "device": "cpu", "value_bytes": int(peaks[top]), "tolerance_pct": 3, "source": source,
                 "notes": "max of the three phase peaks of the measured step (step 3, after 2 warm-up steps).",
                 "detail": det})
    return recs


ABOUT = (
    "Peak bytes of live tensor storages per training phase, measured on CPU (torch {torch}) by "
    "tools/measure/cpu_peak.py: the CPU analogue of torch.cuda.max_memory_allocated, peak reset at each phase "
    "start. Model: Llama causal LM (hidden 256, 8 heads, 2 kv heads, head_dim 32, intermediate 896, untied lm_head, "
    "vocab 2048 or 8192) from tools/measure/cpu_saved.py's transformers-equivalent blocks, eager attention, "
    "transformers' ForCausalLMLoss and variable lifetimes (LlamaForCausalLM holds the lm_head output while the "
    "loss makes its fp32 copy); the model output is dropped before backward (Trainer.compute_loss). Phases: "
    "forward (model forward + loss, inside autocast for amp), backward (loss.backward()), optimizer_step "
    "(optimizer.step() + zero_grad(set_to_none=True)); step 3 after 2 warm-up steps; with grad_accum 2 the "
    "forward/backward record is the larger micro-batch (detail.micro_batches: [name, start, peak, end]). "
    "precision: fp32; bf16 (module bf16, optimizer states bf16); amp (fp32 weights, torch.autocast('cpu', "
    "bfloat16) around forward + loss). adamw = AdamW(foreach=True); sgd / sgd-momentum = SGD(momentum 0 / 0.9, "
    "foreach=True). grad_ckpt full = checkpoint(layer, use_reentrant=True) per layer. Tracker: a TorchDispatchMode "
    "sees every aten op (forward, backward, optimizer); each output's storage is counted once (views share it) and "
    "subtracted when the StorageImpl dies (weak reference); every tensor of the run is created under the mode. "
    "value_bytes leaves out, from the moment the op that makes them returns: (t113) the x.pow(2) of every RMSNorm "
    "(torch 1.13's mean.dim backward keeps it; torch >= 2.2 does not, PR #109935); (adamw_denom) foreach AdamW's "
    "denom list (1.13: denom = _foreach_add(sqrt, eps), a second parameter-sized list; torch >= 2.0 adds eps in "
    "place); (host) tensors that are CPU tensors in a CUDA run: reentrant checkpoint's RNG states, torch 1.13 "
    "record_function handles. detail.value_bytes_torch_1_13 and torch_1_13_live_start_end keep the raw numbers; "
    "excluded_live_at_peak lists what was left out at the peak. at_peak splits the bytes live at the peak: param, "
    "grad, opt_state, input (the step's ids + labels), param_cast (autocast's bf16 weight copies), saved (held "
    "by the autograd graph, found by reading every node's saved tensors after the forward and before each "
    "checkpoint recompute's backward), other (temporaries, gradients in flight, logits, mask); top_other_at_peak "
    "= the largest 'other' storages [nbytes, dtype, shape, producer op]; peak_op = the op whose output made the "
    "peak, peak_op_index = [its index, ops in the phase]; segments = [label, live at segment start, segment peak "
    "above that] (fw.embed, fw.layerI, fw.head = final norm + lm_head + loss; bw.head = from loss.backward() to "
    "the gradient of the last layer's output, bw.layerI = until the gradient of layer I's input, bw.embed = the "
    "rest); peak_segment = the segment holding the phase peak. allocator_check: the same phase seen by the c10 CPU "
    "allocator (torch.profiler memory events, independent of the tracker: [peak above start, end - start]) next "
    "to the tracker's raw numbers; they differ by the 288 B record_function handle (not from the allocator), 8 B "
    "per autograd-saved Python scalar (not tracked) and buffers a kernel frees before returning. CPU kernels' "
    "temporaries can differ from CUDA's; no allocator rounding, no cuBLAS workspace (device: cpu).")


def dump(doc, path):
    """One record per block, model/setup/detail entries one line each (keeps the file small and diffable)."""
    lines = ["{", ' "about": ' + json.dumps(doc["about"]) + ",", ' "records": [']
    for i, rec in enumerate(doc["records"]):
        parts = []
        for k, v in rec.items():
            if k == "detail":
                inner = ",\n".join(f'   {json.dumps(dk)}: {json.dumps(dv, separators=(",", ":"))}'
                                   for dk, dv in v.items())
                parts.append(f'  "detail": {{\n{inner}\n  }}')
            else:
                parts.append(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}")
        lines.append(" {\n" + ",\n".join(parts) + "\n }" + ("," if i + 1 < len(doc["records"]) else ""))
    lines.append(" ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------------------


def self_test():
    ok = True

    def check(what, got, want):
        nonlocal ok
        good = got == want
        ok &= good
        print(f"  [{'ok' if good else 'FAIL'}] {what}: {got}" + ("" if good else f" (expected {want})"))

    print("tracker self-test (torch %s)" % torch.__version__)
    tr = LiveTracker()
    with tr:
        a = torch.empty(1000)
        check("empty(1000) fp32 is live", tr.exact()[0], 4000)
        b = a.view(10, 100)
        c = a[10:20]
        check("views add nothing", tr.exact()[0], 4000)
        del a
        check("base deleted, views alive", tr.exact()[0], 4000)
        del b, c
        check("all views deleted -> freed", tr.exact()[0], 0)
        x, y = torch.ones(100), torch.ones(100)
        tr.begin("t")
        z = x * y * x
        tr.end_phase()
        check("x*y*x: temporary freed (live)", tr.exact()[0], 1200)
        check("x*y*x: temporary in the peak", tr.phases[-1].peak, 1600)
        check("  peak above phase start", tr.phases[-1].peak - tr.phases[-1].start, 800)
        del x, y, z
        r = torch.empty(10)
        r.resize_(1000)
        check("resize_ updates nbytes", tr.exact()[0], 4000)
        del r
        bb = torch.ones(100, dtype=torch.bfloat16)
        check("bf16 storage bytes", tr.exact()[0], 200)
        del bb
        for _ in range(50):  # address reuse: freed and re-allocated storages must not be confused
            t = torch.empty(256)
            del t
        keep = [torch.empty(256) for _ in range(5)]
        check("address reuse", tr.exact()[0], 5 * 1024)
        del keep
        # backward: does the mode see the engine's ops? saved tensors freed after backward?
        w = torch.randn(64, 32, requires_grad=True)
        inp = torch.randn(16, 64)
        base = tr.exact()[0]
        n0 = tr.nops
        tr.begin("fw")
        out = (inp @ w).relu().sum()
        fw_live = tr.exact()[0] - base
        tr.begin("bw")
        out.backward()
        tr.end_phase()
        check("backward ops seen by the mode", tr.nops - n0 > 4, True)
        check("after backward: grad kept, saved relu output freed (bytes above start)",
              tr.exact()[0] - base, 64 * 32 * 4 + 4)  # + the 0-dim loss still referenced by `out`
        check("forward kept relu output + loss", fw_live, 16 * 32 * 4 + 4)
        del out
        w.grad = None
        # reentrant checkpoint: recompute in backward is seen, its RNG state tracked
        tr.begin("ckfw")
        with tr.rng_patch():
            o = checkpoint(lambda v: (v @ w).relu(), inp.clone().requires_grad_(), use_reentrant=True).sum()
            st = tr.exact()[1]
            check("checkpoint keeps its input (+ RNG state, a host tensor: raw count only)", st - base - 4,
                  16 * 64 * 4 + torch.get_rng_state().numel())
            tr.begin("ckbw")
            s0 = tr.serial
            o.backward()
            tr.end_phase()
        check("checkpoint recompute (relu) seen in backward",
              any(tr.info[s][1] == "aten.relu.default" for s in range(s0 + 1, tr.serial + 1)), True)
        del o
        w.grad = None
        # optimizer: foreach AdamW temporaries (two lists in torch 1.13, one marked torch-1.13-only)
        ps = [torch.zeros(1000, requires_grad=True) for _ in range(3)]
        for p in ps:
            p.grad = torch.ones(1000)
        opt = torch.optim.AdamW(ps, foreach=True)
        with tr.rng_patch():
            opt.step()  # creates states
            tr.begin("opt")
            opt.step()
            tr.end_phase()
        ph = tr.phases[-1]
        check("AdamW foreach: adjusted peak above start (sqrt list only)", ph.peak - ph.start, 3 * 4000)
        check("AdamW foreach: torch-1.13 extra at the peak (denom list + record_function's 288 B handle)",
              (ph.peak_raw - ph.start_raw) - (ph.peak - ph.start), 3 * 4000 + 288)
        sgd = torch.optim.SGD(ps, lr=0.1, foreach=True)
        tr.begin("sgd")
        with tr.rng_patch():
            sgd.step()
        tr.end_phase()
        ph = tr.phases[-1]
        check("SGD foreach (no momentum): step allocates nothing (adjusted)", ph.peak - ph.start, 0)
        del opt, sgd, ps, p
        # RMSNorm x^2: excluded from the adjusted count as soon as mean returns, raw keeps it until backward
        norm = cs.LlamaRMSNorm(32, 1e-5)
        xx = torch.randn(8, 32, requires_grad=True)
        a0, r0 = tr.exact()
        yy = norm(xx)
        a1, r1 = tr.exact()
        check("RMSNorm x^2 kept by torch 1.13 (raw - adjusted growth)", (r1 - r0) - (a1 - a0), 8 * 32 * 4)
        yy.sum().backward()
        del yy
        a2, r2 = tr.exact()
        check("x^2 freed by backward", r2 - a2, r0 - a0)
        del norm, xx
    # saved_tensors_hooks tagging must not change any peak: a tiny model, with and without tags
    sp = spec(layers=1, seq=32, batch=1, precision="amp", vocab=512)
    r1 = run(sp, saved_tags=True)
    r2 = run(sp, saved_tags=False)
    pk = lambda r: [(p.name, p.start, p.peak, p.end, p.peak_raw) for p in r["phases"]]  # noqa: E731
    check("saved-tensor tagging changes no number", pk(r1) == pk(r2), True)
    # independent check: the c10 CPU allocator's event stream (torch.profiler) over the same phases
    for sp in (spec(layers=1, seq=32, vocab=512, precision=p, grad_ckpt=c, ga=g)
               for p, c, g in (("fp32", "none", 1), ("bf16", "full", 1), ("amp", "full", 2))):
        r = run(sp, alloc_check=True)
        diffs = [[a[0] - (ph.peak_raw - ph.start_raw), a[1] - (ph.end_raw - ph.start_raw)]
                 for a, ph in zip(r["allocator"] or [], r["phases"])]
        check(f"allocator agrees with the tracker within 512 B per phase ({sp['precision']}, ckpt "
              f"{sp['grad_ckpt']}, ga {sp['grad_accum']}): {diffs}",
              len(diffs) == len(r["phases"]) and all(abs(x) <= 512 for d in diffs for x in d), True)
    sp = spec(layers=2, seq=32, batch=1, precision="fp32", vocab=512, grad_ckpt="full", optimizer="sgd-momentum")
    r3 = run(sp)
    check("no storage left for gc (reference cycles)", [s["freed_by_gc"] for s in r3["steps"]], [0, 0, 0])
    check("steady state: step start live identical in steps 2 and 3",
          r3["steps"][1]["start"] == r3["steps"][2]["start"], True)
    print("self-test", "passed" if ok else "FAILED")
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------

# runs also measured with a patched LlamaRMSNorm (detail.patched_norm_check of their peak record)
NORM_CHECK = [("-L2-v2k-", f"-{p}-adamw-ckpt{c}-s256-b1-ga1") for p in P3 for c in ("none", "full")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/measured/cpu_peak.json")
    ap.add_argument("--quick", action="store_true", help="5 runs (smoke test)")
    ap.add_argument("--list", action="store_true", help="print the grid and exit")
    ap.add_argument("--self-test", action="store_true", help="validate the tracker on toy cases and exit")
    ap.add_argument("--only", action="append", default=[], help="runs whose id contains this (repeatable)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-alloc-check", action="store_true",
                    help="skip the allocator cross-check (torch.profiler memory events) of each run")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.self_test:
        return self_test()
    g = grid(args.quick)
    if args.only:
        g = [sp for sp in g if all(o in run_id(sp) for o in args.only)]
    if args.list:
        for sp in g:
            print(run_id(sp))
        print(len(g), "runs")
        return 0
    date = datetime.date.today().isoformat()
    source = f"tools/measure/cpu_peak.py, torch {torch.__version__} CPU (Debian python3-torch), {date}"
    records = []
    t_all = time.time()
    for i, sp in enumerate(g):
        t0 = time.time()
        res = run(sp, alloc_check=not args.no_alloc_check)
        if any(all(k in run_id(sp) for k in keys) for keys in NORM_CHECK):
            # the same run with LlamaRMSNorm's variance as (x*x).sum/h: torch 1.13 then keeps no x^2 either
            rn = run(sp, patched_norm=True, alloc_check=False)
            res["norm_check"] = {p: max(ph.peak for ph in rn["phases"] if ph.name.split(".")[0] == p)
                                 for p in PHASES}
        recs = records_for(sp, res, source)
        records += recs
        print(f"[{i + 1}/{len(g)}] {run_id(sp)}: " + " ".join(f"{r['phase']}={r['value_bytes']}" for r in recs)
              + f" ({time.time() - t0:.1f}s)", file=sys.stderr)
    doc = {"about": ABOUT.format(torch=torch.__version__), "records": records}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    dump(doc, args.out)
    print(f"wrote {len(records)} records to {args.out} in {time.time() - t_all:.1f}s "
          f"({os.path.getsize(args.out)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
