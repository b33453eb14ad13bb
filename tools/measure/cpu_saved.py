#!/usr/bin/env python3
"""Measure the bytes autograd saves for backward, per decoder layer and for the LM head, on CPU.

The blocks below re-implement the Hugging Face transformers eager code paths (modeling_llama.py,
modeling_gemma.py, modeling_gemma2.py, modeling_phi3.py, modeling_qwen2.py, 4.4x-4.5x) op for op, so that
autograd records the same ops.  Nothing here computes an expected size: every number written comes from
`torch.autograd.graph.saved_tensors_hooks`, which sees each tensor autograd stores for backward.

Counting rule: every saved tensor is reduced to its storage (storage data_ptr, storage nbytes) and each
storage is counted once, however many graph nodes or views refer to it.  Storages are classified as
  act        - derived from the layer input (the number reported in value_bytes)
  param      - a parameter itself or a view of it (e.g. W.t() saved by mm)
  param_cast - computed from parameters only (autocast's cast of W, Gemma's 1 + W.float(), ...)
  const      - tensors that need no grad and exist once per model forward (causal mask, rotary cos/sin,
               labels); shared by all layers, so not per-layer memory
Only `act` storages make up value_bytes; the other classes are listed in `detail`.

Run:  /usr/bin/python3 tools/measure/cpu_saved.py --out tests/data/measured/cpu_saved.json
      (--quick for a 6-record smoke run; --list to print the grid)
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

# --------------------------------------------------------------------------------------------------
# Model configurations (inline HF config.json dicts)
# --------------------------------------------------------------------------------------------------


def _llama(hidden=256, heads=8, kv=2, head_dim=None, inter=None, vocab=2048, **extra):
    head_dim = head_dim or hidden // heads
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inter or int(hidden * 3.5),
        "num_hidden_layers": 1,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "head_dim": head_dim,
        "vocab_size": vocab,
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    cfg.update(extra)
    return cfg


MODELS = {
    # Llama, GQA (8 query heads, 2 kv heads), head_dim = hidden / heads
    "llama-gqa": _llama(kv=2),
    # Llama, MHA
    "llama-mha": _llama(kv=8),
    # Llama with head_dim != hidden / heads (q_dim = 512 != hidden = 256), GQA
    "llama-gqa-hd64": _llama(kv=2, head_dim=64),
    # wider Llama, to see linearity in hidden
    "llama-gqa-h512": _llama(hidden=512, heads=8, kv=2, inter=1792),
    "gemma": {
        "architectures": ["GemmaForCausalLM"],
        "model_type": "gemma",
        "hidden_size": 256,
        "intermediate_size": 1024,
        "num_hidden_layers": 1,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "vocab_size": 2048,
        "max_position_embeddings": 4096,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    },
    "gemma2": {
        "architectures": ["Gemma2ForCausalLM"],
        "model_type": "gemma2",
        "hidden_size": 256,
        "intermediate_size": 1024,
        "num_hidden_layers": 1,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 64,
        "vocab_size": 2048,
        "max_position_embeddings": 4096,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0,
        "query_pre_attn_scalar": 64,
        "sliding_window": 4096,
        "cache_implementation": "hybrid",
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    },
    "phi3-mha": {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "hidden_size": 256,
        "intermediate_size": 896,
        "num_hidden_layers": 1,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "head_dim": 32,
        "vocab_size": 2048,
        "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "partial_rotary_factor": 1.0,
        "attention_dropout": 0.0,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "sliding_window": 4095,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    },
    "qwen2": {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": 256,
        "intermediate_size": 896,
        "num_hidden_layers": 1,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "vocab_size": 2048,
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "attention_dropout": 0.0,
        "use_sliding_window": False,
        "sliding_window": 4096,
        "max_window_layers": 1,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    },
}
MODELS["phi3-gqa"] = dict(MODELS["phi3-mha"], num_key_value_heads=2)


# --------------------------------------------------------------------------------------------------
# Blocks, written after transformers' eager code paths
# --------------------------------------------------------------------------------------------------


class LlamaRMSNorm(nn.Module):  # modeling_llama.LlamaRMSNorm (also Phi3RMSNorm, Qwen2RMSNorm)
    def __init__(self, hidden, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class GemmaRMSNorm(nn.Module):  # modeling_gemma.GemmaRMSNorm (also Gemma2RMSNorm)
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        output = self._norm(x.float())
        output = output * (1.0 + self.weight.float())
        return output.type_as(x)


def gelu_pytorch_tanh(x):  # transformers.activations.PytorchGELUTanh
    return F.gelu(x, approximate="tanh")


ACT2FN = {"silu": F.silu, "gelu_pytorch_tanh": gelu_pytorch_tanh}


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


def apply_rotary_pos_emb_phi3(q, k, cos, sin, unsqueeze_dim=1):  # modeling_phi3 (partial rotary form)
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    rotary_dim = cos.shape[-1]
    q_rot, q_pass = q[..., :rotary_dim], q[..., rotary_dim:]
    k_rot, k_pass = k[..., :rotary_dim], k[..., rotary_dim:]
    q_embed = torch.cat([(q_rot * cos) + (rotate_half(q_rot) * sin), q_pass], dim=-1)
    k_embed = torch.cat([(k_rot * cos) + (rotate_half(k_rot) * sin), k_pass], dim=-1)
    return q_embed, k_embed


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, softcap=None):
    key_states = repeat_kv(key, module.num_key_value_groups)
    value_states = repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if softcap is not None:  # modeling_gemma2.eager_attention_forward
        attn_weights = attn_weights / softcap
        attn_weights = torch.tanh(attn_weights)
        attn_weights = attn_weights * softcap
    if attention_mask is not None:
        causal_mask = attention_mask[:, :, :, : key_states.shape[-2]]
        attn_weights = attn_weights + causal_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value_states)
    attn_output = attn_output.transpose(1, 2).contiguous()
    return attn_output, attn_weights


class Attention(nn.Module):
    """LlamaAttention / GemmaAttention / Gemma2Attention / Qwen2Attention / Phi3Attention (eager)."""

    def __init__(self, cfg):
        super().__init__()
        mt = cfg["model_type"]
        self.cfg = cfg
        h = cfg["hidden_size"]
        self.head_dim = cfg.get("head_dim") or h // cfg["num_attention_heads"]
        self.num_heads = cfg["num_attention_heads"]
        self.num_kv = cfg["num_key_value_heads"]
        self.num_key_value_groups = self.num_heads // self.num_kv
        self.attention_dropout = cfg.get("attention_dropout", 0.0)
        if mt == "gemma2":
            self.scaling = cfg["query_pre_attn_scalar"] ** -0.5
            self.softcap = cfg.get("attn_logit_softcapping")
        else:
            self.scaling = self.head_dim**-0.5
            self.softcap = None
        self.fused = mt == "phi3"
        if self.fused:
            op_size = self.num_heads * self.head_dim + 2 * (self.num_kv * self.head_dim)
            self.qkv_proj = nn.Linear(h, op_size, bias=False)
            self.o_proj = nn.Linear(self.num_heads * self.head_dim, h, bias=False)
        else:
            qkv_bias = True if mt == "qwen2" else cfg.get("attention_bias", False)
            o_bias = False if mt == "qwen2" else cfg.get("attention_bias", False)
            self.q_proj = nn.Linear(h, self.num_heads * self.head_dim, bias=qkv_bias)
            self.k_proj = nn.Linear(h, self.num_kv * self.head_dim, bias=qkv_bias)
            self.v_proj = nn.Linear(h, self.num_kv * self.head_dim, bias=qkv_bias)
            self.o_proj = nn.Linear(self.num_heads * self.head_dim, h, bias=o_bias)

    def forward(self, hidden_states, position_embeddings, attention_mask):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        if self.fused:  # modeling_phi3.Phi3Attention.forward
            qkv = self.qkv_proj(hidden_states)
            query_pos = self.num_heads * self.head_dim
            query_states = qkv[..., :query_pos]
            key_states = qkv[..., query_pos : query_pos + self.num_kv * self.head_dim]
            value_states = qkv[..., query_pos + self.num_kv * self.head_dim :]
            query_states = query_states.view(hidden_shape).transpose(1, 2)
            key_states = key_states.view(hidden_shape).transpose(1, 2)
            value_states = value_states.view(hidden_shape).transpose(1, 2)
            cos, sin = position_embeddings
            query_states, key_states = apply_rotary_pos_emb_phi3(query_states, key_states, cos, sin)
        else:
            query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
            key_states = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
            value_states = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
            cos, sin = position_embeddings
            query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)
        attn_output, _ = eager_attention_forward(
            self, query_states, key_states, value_states, attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling, softcap=self.softcap,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        act = cfg.get("hidden_activation") or cfg.get("hidden_act", "silu")
        self.act_fn = ACT2FN[act]
        self.fused = cfg["model_type"] == "phi3"
        bias = cfg.get("mlp_bias", False) if cfg["model_type"] == "llama" else False
        if self.fused:  # Phi3MLP
            self.gate_up_proj = nn.Linear(h, 2 * i, bias=False)
            self.down_proj = nn.Linear(i, h, bias=False)
        else:
            self.gate_proj = nn.Linear(h, i, bias=bias)
            self.up_proj = nn.Linear(h, i, bias=bias)
            self.down_proj = nn.Linear(i, h, bias=bias)

    def forward(self, x):
        if self.fused:
            up_states = self.gate_up_proj(x)
            gate, up_states = up_states.chunk(2, dim=-1)
            up_states = up_states * self.act_fn(gate)
            return self.down_proj(up_states)
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        mt = cfg["model_type"]
        self.mt = mt
        h, eps = cfg["hidden_size"], cfg["rms_norm_eps"]
        Norm = GemmaRMSNorm if mt in ("gemma", "gemma2") else LlamaRMSNorm
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = Norm(h, eps)
        self.post_attention_layernorm = Norm(h, eps)
        if mt == "gemma2":
            self.pre_feedforward_layernorm = Norm(h, eps)
            self.post_feedforward_layernorm = Norm(h, eps)
        if mt == "phi3":
            self.resid_attn_dropout = nn.Dropout(cfg.get("resid_pdrop", 0.0))
            self.resid_mlp_dropout = nn.Dropout(cfg.get("resid_pdrop", 0.0))

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None):
        if self.mt == "gemma2":  # Gemma2DecoderLayer
            residual = hidden_states
            hidden_states = self.input_layernorm(hidden_states)
            hidden_states = self.self_attn(hidden_states, position_embeddings, attention_mask)
            hidden_states = self.post_attention_layernorm(hidden_states)
            hidden_states = residual + hidden_states
            residual = hidden_states
            hidden_states = self.pre_feedforward_layernorm(hidden_states)
            hidden_states = self.mlp(hidden_states)
            hidden_states = self.post_feedforward_layernorm(hidden_states)
            return residual + hidden_states
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states = self.self_attn(hidden_states, position_embeddings, attention_mask)
        if self.mt == "phi3":
            hidden_states = residual + self.resid_attn_dropout(hidden_states)
        else:
            hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        if self.mt == "phi3":
            return residual + self.resid_mlp_dropout(hidden_states)
        return residual + hidden_states


class Head(nn.Module):
    """Final norm + lm_head + ForCausalLMLoss (transformers.loss.loss_utils, >= 4.46)."""

    def __init__(self, cfg):
        super().__init__()
        mt = cfg["model_type"]
        Norm = GemmaRMSNorm if mt in ("gemma", "gemma2") else LlamaRMSNorm
        self.norm = Norm(cfg["hidden_size"], cfg["rms_norm_eps"])
        # tied or not, the lm_head weight is a parameter; tying changes no saved activation
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.final_softcap = cfg.get("final_logit_softcapping") if mt == "gemma2" else None
        self.vocab_size = cfg["vocab_size"]

    def forward(self, hidden_states, labels):
        hidden_states = self.norm(hidden_states)
        logits = self.lm_head(hidden_states)
        if self.final_softcap is not None:  # Gemma2ForCausalLM.forward
            logits = logits / self.final_softcap
            logits = torch.tanh(logits)
            logits = logits * self.final_softcap
        # ForCausalLMLoss
        logits = logits.float()
        labels = nn.functional.pad(labels, (0, 1), value=-100)
        shift_labels = labels[..., 1:].contiguous()
        logits = logits.view(-1, self.vocab_size)
        shift_labels = shift_labels.view(-1)
        return nn.functional.cross_entropy(logits, shift_labels, ignore_index=-100, reduction="mean")


def model_constants(cfg, batch, seq, dtype):
    """Per-model-forward tensors: rotary cos/sin (LlamaRotaryEmbedding, default rope) and the 4-D eager
    causal mask (_prepare_4d_causal_attention_mask_with_cache_position), in the embedding output dtype."""
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    dim = int(head_dim * cfg.get("partial_rotary_factor", 1.0))
    base = cfg.get("rope_theta", 10000.0)
    with torch.no_grad():
        cache_position = torch.arange(seq)
        position_ids = cache_position.unsqueeze(0)
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        position_ids_expanded = position_ids[:, None, :].float()
        with torch.autocast("cpu", enabled=False):
            freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
            emb = torch.cat((freqs, freqs), dim=-1)
            cos = emb.cos() * 1.0
            sin = emb.sin() * 1.0
        cos, sin = cos.to(dtype), sin.to(dtype)
        min_dtype = torch.finfo(dtype).min
        causal_mask = torch.full((seq, seq), fill_value=min_dtype, dtype=dtype)
        causal_mask = torch.triu(causal_mask, diagonal=1)
        causal_mask = causal_mask * (torch.arange(seq) > cache_position.reshape(-1, 1))
        causal_mask = causal_mask[None, None, :, :].expand(batch, 1, -1, -1)
    return (cos, sin), causal_mask


# --------------------------------------------------------------------------------------------------
# Saved-tensor accounting
# --------------------------------------------------------------------------------------------------

VIEW_NODES = {
    "TBackward0", "ViewBackward0", "TransposeBackward0", "UnsqueezeBackward0", "SqueezeBackward0",
    "SqueezeBackward1", "ExpandBackward0", "SliceBackward0", "SelectBackward0", "PermuteBackward0",
    "AsStridedBackward0", "UnsafeViewBackward0", "AliasBackward0", "SplitBackward0", "SplitWithSizesBackward0",
    "ReshapeAliasBackward0", "UnbindBackward0",
}
DT = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16", torch.int64: "i64",
      torch.bool: "bool", torch.uint8: "u8", torch.int32: "i32", torch.float64: "fp64"}


def storage_of(t):
    """(data_ptr, nbytes) of the tensor's whole storage; works on torch 1.13 and 2.x."""
    if hasattr(t, "untyped_storage"):
        s = t.untyped_storage()
    else:
        s = t.storage()
    return s.data_ptr(), s.nbytes()


class Tracker:
    """Packs saved tensors, counts storages once, and follows how long autograd holds them."""

    def __init__(self, params, data_leaves, consts):
        """params: the module's parameters. data_leaves: leaf tensors that stand for data (the layer input).
        consts: name -> tensor for per-model-forward tensors (mask, cos, sin, labels).  Graph nodes added to
        data_roots (id -> node) also count as data, e.g. the embedding output's grad_fn in a whole model."""
        self.data_roots = {}
        self.param_ptrs = {storage_of(p)[0] for p in params}
        self.param_ids = {id(p) for p in params}
        self.data_leaf_ids = {id(t) for t in data_leaves}
        self.const_names = {}
        for name, t in consts.items():
            self.const_names[storage_of(t)[0]] = name
        self.storages = {}  # ptr -> info dict (no tensor reference)
        self.refs = {}  # ptr -> number of live packed objects
        self.live = 0
        self.peak = 0
        self.module_stack = []
        self.unpacked = []
        self._reach = {}
        self.n_packed = 0
        self.phase = "forward"
        self.peak_by_phase = {}

    # -- module names for the detail table
    def attach(self, root):
        handles = []
        for name, mod in root.named_modules():
            if mod is root:
                continue
            short = name

            def pre(m, inp, short=short):
                self.module_stack.append(short)

            def post(m, inp, out):
                self.module_stack.pop()

            handles.append(mod.register_forward_pre_hook(pre))
            handles.append(mod.register_forward_hook(post))
        return handles

    # -- does a grad_fn graph reach a data leaf (the layer input) or only parameters?
    def reaches_data(self, node):
        """True when the graph below `node` reaches a leaf that is not a parameter (the layer input).
        Python wrappers of graph nodes are kept alive while walking so that id() stays unique."""
        if node is None:
            return False
        if id(node) in self._reach:
            return self._reach[id(node)][0]
        result = False
        visit = [node]
        local = {}
        while visit:
            n = visit.pop()
            if n is None or id(n) in local:
                continue
            local[id(n)] = n
            if id(n) in self.data_roots:
                result = True
                break
            if id(n) in self._reach:
                if self._reach[id(n)][0]:
                    result = True
                    break
                continue
            if type(n).__name__ == "AccumulateGrad":
                if id(n.variable) not in self.param_ids:
                    result = True
                    break
                continue
            for nxt, _ in n.next_functions:
                visit.append(nxt)
        self._reach[id(node)] = (result, node)  # keep node alive so id() stays unique
        return result

    def classify(self, t):
        ptr = storage_of(t)[0]
        if ptr in self.param_ptrs:
            return "param"
        if ptr in self.const_names:
            return "const"
        if t.grad_fn is None:
            if t.requires_grad and id(t) in self.data_leaf_ids:
                return "act"
            if t.requires_grad:
                return "param"
            return "const"
        return "act" if self.reaches_data(t.grad_fn) else "param_cast"

    @staticmethod
    def producer(t):
        n = t.grad_fn
        while n is not None and type(n).__name__ in VIEW_NODES:
            nxt = [f for f, _ in n.next_functions if f is not None]
            if not nxt:
                break
            n = nxt[0]
        if n is None:
            return "leaf" if t.requires_grad else "no-grad"
        name = type(n).__name__
        return "leaf" if name == "AccumulateGrad" else name

    def pack(self, t):
        ptr, nbytes = storage_of(t)
        self.n_packed += 1
        info = self.storages.get(ptr)
        if info is None:
            cls = self.classify(t)
            info = {
                "ptr": ptr, "nbytes": nbytes, "dtype": DT.get(t.dtype, str(t.dtype)), "shape": list(t.shape),
                "class": cls, "module": self.module_stack[-1] if self.module_stack else "",
                "producer": self.producer(t), "saved_by": [], "order": len(self.storages),
                "phase": self.phase,
            }
            if cls == "const":
                info["const"] = self.const_names.get(ptr) or ("scalar" if t.dim() == 0 else "other")
            self.storages[ptr] = info
        if self.refs.get(ptr, 0) == 0 and info["class"].startswith("act"):
            self.live += nbytes
            if self.live > self.peak_by_phase.get(self.phase, 0):
                self.peak_by_phase[self.phase] = self.live
        self.refs[ptr] = self.refs.get(ptr, 0) + 1
        return Packed(self, ptr, t)

    def release(self, ptr):
        self.refs[ptr] -= 1
        if self.refs[ptr] == 0 and self.storages[ptr]["class"].startswith("act"):
            self.live -= self.storages[ptr]["nbytes"]

    def unpack(self, packed):
        self.unpacked.append(packed.ptr)
        return packed.t

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)

    # -- after forward: which graph node holds which storage
    def attribute(self, roots):
        seen = {}  # id -> node; holding the wrappers keeps id() unique
        todo = [r for r in roots if r is not None]
        while todo:
            n = todo.pop()
            if id(n) in seen:
                continue
            seen[id(n)] = n
            name = type(n).__name__
            attrs = [a for a in dir(n) if a.startswith("_saved_") and not a.endswith(("_sym_sizes", "_sym_strides"))]
            for a in attrs:
                self.unpacked = []
                try:
                    getattr(n, a)
                except Exception:
                    continue
                for ptr in self.unpacked:
                    if ptr in self.storages:
                        self.storages[ptr]["saved_by"].append(f"{name}.{a[len('_saved_'):]}")
            if hasattr(n, "saved_tensors") and not attrs:  # python custom Function (checkpoint)
                self.unpacked = []
                try:
                    n.saved_tensors
                except Exception:
                    pass
                for ptr in self.unpacked:
                    if ptr in self.storages:
                        self.storages[ptr]["saved_by"].append(f"{name}.saved_tensors")
            for nxt, _ in n.next_functions:
                if nxt is not None:
                    todo.append(nxt)
        self.unpacked = []
        # torch < 2.2 saves `self` in mean.dim's backward node; torch >= 2.2 saves only its numel
        # (pytorch PR #109935, derivatives.yaml: mean_backward(grad, self.sym_sizes(), dim, self.sym_numel(), ..)).
        # Storages that only a MeanBackward node holds are therefore a torch-1.13 artefact: class act_t113.
        for info in self.storages.values():
            sb = info["saved_by"]
            if info["class"] == "act" and sb and all(x.startswith("MeanBackward") for x in sb):
                info["class"] = "act_t113"

    def totals(self, phase="forward"):
        out = {"act": 0, "act_t113": 0, "param": 0, "param_cast": 0, "const": 0}
        for info in self.storages.values():
            if info["phase"] == phase:
                out[info["class"]] += info["nbytes"]
        return out


class Packed:
    __slots__ = ("tracker", "ptr", "t")

    def __init__(self, tracker, ptr, t):
        self.tracker, self.ptr, self.t = tracker, ptr, t

    def __del__(self):
        self.tracker.release(self.ptr)


def short(name):
    """grad_fn class name without 'Backward' (MulBackward0 -> Mul0), to keep the JSON small."""
    return name.replace("Backward", "")


def compress_saved_by(lst):
    counts = {}
    for s in map(short, lst):
        counts[s] = counts.get(s, 0) + 1
    return [s if c == 1 else f"{s} x{c}" for s, c in counts.items()]


def detail_rows(tracker, phase="forward"):
    rows = []
    for info in sorted(tracker.storages.values(), key=lambda i: i["order"]):
        if info["phase"] != phase or info.get("const") == "scalar":  # 0-dim python-scalar wrappers: omitted
            continue
        cls = info["class"] if info["class"] != "const" else "const:" + info.get("const", "")
        module = info["module"][2:] if info["module"].startswith("0.") else info["module"]
        rows.append([info["nbytes"], info["dtype"], info["shape"], cls, module, short(info["producer"]),
                     compress_saved_by(info["saved_by"])])
    return rows


ROW_COLUMNS = ["storage_nbytes", "dtype", "shape_of_first_saved_view", "class", "module (of layer 0)",
               "producer (grad_fn less 'Backward')", "saved_by (grad_fn less 'Backward' . saved attribute)"]

# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------

PREC = {"fp32": (torch.float32, torch.float32, False), "bf16": (torch.bfloat16, torch.bfloat16, False),
        "amp": (torch.float32, torch.float32, True)}  # (weight dtype, activation dtype, autocast)


def autocast_ctx(on):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=on)


def measure_layers(cfg, seq, batch, precision, n_layers=1, ckpt=False, seed=0):
    """Forward n_layers decoder layers with the hooks on, then backward. Returns the tracker."""
    torch.manual_seed(seed)
    wdt, adt, amp = PREC[precision]
    layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(n_layers)]).to(wdt).train()
    for p in layers.parameters():  # non-trivial norm weights; values do not change what is saved
        if p.dim() == 1:
            nn.init.normal_(p, 0.0, 0.1)
    pos, mask = model_constants(cfg, batch, seq, adt)
    x = torch.randn(batch, seq, cfg["hidden_size"], dtype=adt, requires_grad=True)
    tr = Tracker(list(layers.parameters()), [x], {"cos": pos[0], "sin": pos[1], "causal_mask": mask})
    handles = tr.attach(layers)
    with tr.hooks():
        with autocast_ctx(amp):
            h = x
            for layer in layers:
                if ckpt:  # GradientCheckpointingLayer.__call__: hidden_states positional, the rest kwargs
                    fn = functools.partial(layer.__call__, position_embeddings=pos, attention_mask=mask)
                    h = checkpoint(fn, h, use_reentrant=True)
                else:
                    h = layer(h, position_embeddings=pos, attention_mask=mask)
        tr.attribute([h.grad_fn])
        tr.phase = "backward"  # reentrant checkpoint recomputes (and saves) during backward
        h.backward(torch.ones_like(h))
    for hd in handles:
        hd.remove()
    assert x.grad is not None and all(p.grad is not None for p in layers.parameters()), "backward incomplete"
    leftover = sum(tr.storages[p]["nbytes"] for p, c in tr.refs.items() if c > 0 and tr.storages[p]["class"].startswith("act"))
    tr.leftover_after_backward = leftover
    return tr, h


def measure_head(cfg, seq, batch, precision, seed=0):
    torch.manual_seed(seed)
    wdt, adt, amp = PREC[precision]
    head = Head(cfg).to(wdt).train()
    x = torch.randn(batch, seq, cfg["hidden_size"], dtype=adt, requires_grad=True)
    labels = torch.randint(0, cfg["vocab_size"], (batch, seq))
    tr = Tracker(list(head.parameters()), [x], {"labels": labels})
    handles = tr.attach(head)
    with tr.hooks():
        with autocast_ctx(amp):
            loss = head(x, labels)
        tr.attribute([loss.grad_fn])
        tr.phase = "backward"
        loss.backward()
    for hd in handles:
        hd.remove()
    tr.leftover_after_backward = 0
    return tr, loss


# --------------------------------------------------------------------------------------------------
# Grid and records
# --------------------------------------------------------------------------------------------------


def grid(quick=False):
    g = []  # (kind, model, seq, batch, precision, ckpt)
    P = ["fp32", "bf16", "amp"]
    if quick:
        for p in P:
            g.append(("layer", "llama-gqa", 64, 1, p, "none"))
        g.append(("layer", "gemma2", 64, 1, "bf16", "none"))
        g.append(("layer", "llama-gqa", 64, 1, "amp", "full"))
        g.append(("head", "llama-gqa", 64, 1, "amp", "none"))
        return g
    for m in ("llama-gqa", "llama-mha"):
        for p in P:
            for s, b in ((64, 1), (128, 1), (256, 1), (64, 2), (128, 2), (256, 2)):
                g.append(("layer", m, s, b, p, "none"))
    for m in ("llama-gqa-hd64", "llama-gqa-h512", "gemma", "gemma2", "phi3-mha", "phi3-gqa", "qwen2"):
        # batch 2 where batch-1 views change what is stored (MQA repeat_kv, Phi3 fused qkv)
        shapes = ((64, 1), (256, 1), (64, 2)) if m in ("gemma", "phi3-mha") else ((64, 1), (256, 1))
        for p in P:
            for s, b in shapes:
                g.append(("layer", m, s, b, p, "none"))
    for m, shapes in (("llama-gqa", ((128, 1), (256, 1), (128, 2))), ("llama-mha", ((128, 1), (256, 1))),
                      ("gemma2", ((128, 1),))):
        for p in P:
            for s, b in shapes:
                g.append(("layer", m, s, b, p, "full"))
    for m, shapes in (("llama-gqa", ((64, 1), (256, 1), (64, 2), (256, 2))), ("gemma", ((128, 1),)),
                      ("gemma2", ((128, 1),))):
        for p in P:
            for s, b in shapes:
                g.append(("head", m, s, b, p, "none"))
    return g


CKPT_LAYERS = 3

NOTE_T113 = (" Storages of class act_t113 (the x.pow(2) inside each RMSNorm, held only by MeanBackward1.self) "
             "are saved by torch 1.13 but not by torch >= 2.2 (pytorch PR #109935: mean.dim's backward keeps "
             "numel, not self); value_bytes leaves them out, detail.value_bytes_torch_1_13 keeps them.")


def run_one(kind, mname, seq, batch, precision, ckpt, source, verify_stack):
    cfg = dict(MODELS[mname])
    t0 = time.time()
    setup = {"seq": seq, "batch": batch, "grad_accum": 1, "precision": precision, "attention": "eager",
             "grad_ckpt": ckpt, "loss": "full"}
    extra = {}
    if kind == "head":
        tr, _ = measure_head(cfg, seq, batch, precision)
        tot = tr.totals()
        nl = 1
        value, value_113 = tot["act"], tot["act"] + tot["act_t113"]
        metric, phase = "saved_head", "head"
        notes = ("Saved bytes of final norm + lm_head (+ Gemma2 final logit soft-cap) + ForCausalLMLoss "
                 "(logits.float(), shifted labels, F.cross_entropy mean); value_bytes = class act.")
    else:
        nl = CKPT_LAYERS if ckpt == "full" else 1
        tr, _ = measure_layers(cfg, seq, batch, precision, n_layers=nl, ckpt=(ckpt == "full"))
        tot = tr.totals()
        value, value_113 = tot["act"] // nl, (tot["act"] + tot["act_t113"]) // nl
        metric, phase = "saved_per_layer", "layer"
        if ckpt == "full":
            extra["layers_in_stack"] = nl
            extra["stack_total_act_bytes"] = tot["act"]
            bw = tr.totals("backward")
            extra["recompute_saved_bytes_all_layers_torch_1_13"] = bw["act"] + bw["act_t113"]
            extra["peak_live_saved_bytes_backward_torch_1_13"] = tr.peak_by_phase.get("backward", 0)
            notes = (f"checkpoint(use_reentrant=True) around each of {nl} layers; value_bytes = act bytes "
                     "saved in forward / layers (kept by each layer until backward).")
        else:
            notes = "Saved bytes of one decoder layer, eager attention, no checkpointing; value_bytes = class act."
            if verify_stack:
                tr3, _ = measure_layers(cfg, seq, batch, precision, n_layers=3)
                extra["stack3_value_bytes_per_layer"] = tr3.totals()["act"] / 3
        extra["peak_live_saved_bytes_forward_torch_1_13"] = tr.peak_by_phase.get("forward", 0) // (
            nl if ckpt == "full" else 1)
    cfg["num_hidden_layers"] = nl
    if precision == "bf16":
        cfg["torch_dtype"] = "bfloat16"
    det = {
        "value_bytes_torch_1_13": int(value_113),
        "act_t113_bytes": int(value_113 - value),
        "param_bytes": tot["param"],
        "param_cast_bytes": tot["param_cast"],
        "const_bytes_shared_per_model": tot["const"],
        "n_saved_tensors_packed": tr.n_packed,
        "n_storages": sum(1 for i in tr.storages.values() if i["phase"] == "forward"),
    }
    det.update(extra)
    det["storages"] = detail_rows(tr)
    rid = f"cpu-{metric.replace('_', '-')}-{mname}-{precision}-ckpt{ckpt}-s{seq}-b{batch}"
    rec = {
        "id": rid,
        "model": cfg,
        "setup": setup,
        "metric": metric,
        "phase": phase,
        "value_bytes": int(value),
        "tolerance_pct": 2,
        "source": source,
        "notes": notes + f" Variant '{mname}'. See 'about' and tools/measure/README.md.",
        "detail": det,
    }
    return rec, time.time() - t0


def _structure(rows):
    return [r[1:2] + r[3:] for r in rows]


def compact_detail(records):
    """A record whose storage list has the same structure (dtype, class, module, producer, saved_by, in
    order) as an earlier record of the same model/metric/precision/checkpointing keeps only [nbytes, shape]
    per storage and names that record in storages_like."""
    seen = {}
    for rec in records:
        d = rec["detail"]
        key = (rec["metric"], rec["notes"], rec["setup"]["precision"], rec["setup"]["grad_ckpt"])
        struct = json.dumps(_structure(d["storages"]))
        ref = seen.setdefault(key, {}).get(struct)
        if ref is None:
            seen[key][struct] = rec
            d["storage_columns"] = ROW_COLUMNS
        else:
            d["storages_like"] = ref["id"]
            d["storage_columns"] = ["storage_nbytes"]
            d["storages"] = [r[0] for r in d["storages"]]
    for rec in records:  # columns before rows, for reading
        rows = rec["detail"].pop("storages")
        rec["detail"]["storages"] = rows


def dump(doc, path):
    """Indented JSON, but each storage row and each short list on one line (keeps the file small)."""
    rows = {}
    for i, rec in enumerate(doc["records"]):
        if "storages_like" in rec["detail"]:  # a flat list of sizes: one line
            rows[f"@@ROW{i}@@"] = json.dumps(rec["detail"]["storages"], separators=(",", ":"))
            rec["detail"]["storages"] = f"@@ROW{i}@@"
        for j, row in enumerate(rec["detail"]["storages"] if "storages_like" not in rec["detail"] else []):
            key = f"@@ROW{i}_{j}@@"
            rows[key] = json.dumps(row, separators=(",", ":"))
            rec["detail"]["storages"][j] = key
        for k in ("storage_columns",):
            rows[f"@@COL{i}@@"] = json.dumps(rec["detail"][k])
            rec["detail"][k] = f"@@COL{i}@@"
        for k in ("model", "setup"):  # one line each
            rows[f"@@{k}{i}@@"] = json.dumps(rec[k])
            rec[k] = f"@@{k}{i}@@"
    text = json.dumps(doc, indent=1)
    text = re.sub(r'"(@@[A-Za-z0-9_]+@@)"', lambda m: rows[m.group(1)], text)
    json.loads(text)  # must still parse
    with open(path, "w") as f:
        f.write(text + "\n")


ABOUT = (
    "Bytes autograd saves for backward, measured with torch.autograd.graph.saved_tensors_hooks on CPU (torch "
    "{torch}), in decoder layers and LM heads written op for op after transformers' eager code (modeling_llama, "
    "gemma, gemma2, phi3, qwen2). Each saved tensor is reduced to its storage and each storage counted once. "
    "Classes: act = derived from the layer input (value_bytes is the sum of these); act_t113 = the x.pow(2) "
    "inside each RMSNorm, held only by MeanBackward1.self: torch 1.13 saves it, torch >= 2.2 does not "
    "(pytorch PR #109935, mean.dim backward keeps numel instead of self), so it is left out of value_bytes and "
    "kept in detail.value_bytes_torch_1_13; param = a parameter or a view of one; param_cast = computed from "
    "parameters only (autocast's bf16 weight copies, Gemma's 1 + w.float()); const = per-model-forward tensors "
    "shared by all layers (causal mask, rotary cos/sin, labels, python scalars; the 8-byte 0-dim scalar tensors are "
    "counted in const_bytes_shared_per_model but have no row). Rows of detail.storages follow "
    "detail.storage_columns; a record with storages_like has the same storages in the same order as the record "
    "it names and lists only their nbytes. saved_per_layer with grad_ckpt full: checkpoint(use_reentrant=True) "
    "around each of 3 layers, value = forward-saved bytes / 3; peak_live_saved_bytes_backward_torch_1_13 = most "
    "saved bytes alive at once during backward (checkpoint inputs + one layer's recompute, torch-1.13 "
    "accounting); reentrant checkpoint also keeps a CPU RNG state per layer (ctx attribute, not counted). "
    "stack3_value_bytes_per_layer re-measures a no-checkpoint layer inside a 3-layer stack. "
    "See tools/measure/README.md for what each saved tensor is.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/measured/cpu_saved.json")
    ap.add_argument("--quick", action="store_true", help="a few records only (smoke test)")
    ap.add_argument("--list", action="store_true", help="print the grid and exit")
    ap.add_argument("--no-verify-stack", action="store_true",
                    help="skip re-measuring each no-checkpoint layer in a 3-layer stack")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    g = grid(args.quick)
    if args.list:
        for row in g:
            print(*row)
        print(len(g), "runs")
        return 0
    date = datetime.date.today().isoformat()
    source = f"tools/measure/cpu_saved.py, torch {torch.__version__} CPU (Debian python3-torch), {date}"
    records = []
    t_all = time.time()
    for i, (kind, m, s, b, p, ck) in enumerate(g):
        rec, dt = run_one(kind, m, s, b, p, ck, source, verify_stack=not args.no_verify_stack)
        records.append(rec)
        print(f"[{i + 1}/{len(g)}] {rec['id']}: {rec['value_bytes']} B ({dt:.2f}s)", file=sys.stderr)
    compact_detail(records)
    doc = {
        "about": ABOUT.format(torch=torch.__version__),
        "records": records,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    dump(doc, args.out)
    print(f"wrote {len(records)} records to {args.out} in {time.time() - t_all:.1f}s "
          f"({os.path.getsize(args.out)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
