#!/usr/bin/env python3
"""Memory of real transformers training steps on the CPU (torch 2.x, transformers 5.x): saved-for-backward
bytes per decoder layer and in the head, and live-tensor peaks per phase, for the accuracy records.

Run with the pinned venv (tools/measure/setup.sh):

    .venv-measure/bin/python tools/measure/hf_measure.py --quick --out /tmp/q.json      # smoke test, minutes
    .venv-measure/bin/python tools/measure/hf_measure.py --out tests/data/measured/hf_cpu.json
    .venv-measure/bin/python tools/measure/hf_measure.py --list                         # the grid
    .venv-measure/bin/python tools/measure/hf_measure.py --only s8192 --out /tmp/x.json  # subset by id substring

Each run builds `AutoModelForCausalLM.from_config(...)` (random weights, no download) for one family and shape
and runs two training steps under a TorchDispatchMode live-storage tracker (see LiveTracker); every run is a
fresh subprocess. See tools/measure/README.md for the method and the record fields.
"""
import argparse
import contextlib
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# ----------------------------------------------------------------------------------------------------------
# Grid
# ----------------------------------------------------------------------------------------------------------

SUPPORTED = ("llama", "mistral", "qwen2", "gemma", "gemma2", "phi3")  # families the estimator models
NEW = ("gpt_neox", "falcon", "qwen3", "olmo2")  # being added to the estimator; records marked predict: false
MOE = ("mixtral", "qwen2_moe", "qwen3_moe")  # mixtures of experts (grid block (j)); the estimator models them
DENSE = ("gpt2", "phi", "starcoder2", "gemma3_text", "bloom")  # issue 14: more dense families (estimator-supported)
GPT_OSS = ("gpt_oss",)  # issue 14: attention sinks, sliding/full layers, biased clamped-SwiGLU experts (grid block (m))
DEEPSEEK = ("deepseek_v2", "deepseek_v3")  # issue 14: MLA + shared experts + a first dense layer (grid block (n))
ENCODERS = ("bert", "roberta")  # issue 14: encoders, masked-LM and sequence-classification heads (spec "head")
SEQ2SEQ = ("t5",)  # issue 14: T5ForConditionalGeneration (spec "target_seq": the decoder's length); not predicted yet


def model_cfg(family, hidden=128, heads=4, kv=2, head_dim=32, inter=None, vocab=4096, layers=3):
    """A small HF config dict for `family` (the keys that family's config class reads)."""
    inter = inter or 2 * hidden + 64
    c = {"model_type": family, "hidden_size": hidden, "num_attention_heads": heads, "num_hidden_layers": layers,
         "vocab_size": vocab, "max_position_embeddings": 16384, "use_cache": False,
         "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    if family in ("llama", "mistral", "qwen2", "gemma", "gemma2", "phi3", "qwen3", "olmo2"):
        c.update(num_key_value_heads=kv, intermediate_size=inter)
        if family in ("llama", "mistral", "qwen2", "gemma", "gemma2", "qwen3", "olmo2"):
            c["head_dim"] = head_dim
        if family in ("mistral", "qwen2", "qwen3"):
            c["sliding_window"] = None
        if family == "qwen2":
            c["use_sliding_window"] = False
        if family == "gemma2":
            c.update(sliding_window=16384, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                     query_pre_attn_scalar=head_dim)
        if family in ("llama", "mistral", "qwen2", "phi3", "qwen3", "olmo2"):
            c["tie_word_embeddings"] = False
    elif family == "gpt_neox":
        c.update(intermediate_size=inter, rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False,
                 attention_dropout=0.0, hidden_dropout=0.0)
    elif family == "falcon":
        # Falcon-7B style: multi-query, parallel attention + MLP, rotary, no bias, 4h MLP
        c.update(num_kv_heads=1, multi_query=True, new_decoder_architecture=False, parallel_attn=True,
                 bias=False, alibi=False, attention_dropout=0.0, hidden_dropout=0.0, tie_word_embeddings=True)
        c.pop("max_position_embeddings")
    elif family in MOE:
        # 8 experts, top-2, expert width 96 (Mixtral: intermediate_size is the expert width); Qwen2-MoE adds a
        # shared expert of width 192 and keeps q/k/v biases; Qwen3-MoE renormalises the top-k probabilities.
        c.update(num_key_value_heads=kv, head_dim=head_dim, tie_word_embeddings=False, num_experts_per_tok=2,
                 sliding_window=None)
        if family == "mixtral":
            c.update(intermediate_size=96, num_local_experts=8)
        else:
            c.update(intermediate_size=inter, moe_intermediate_size=96, num_experts=8, decoder_sparse_step=1,
                     mlp_only_layers=[], use_sliding_window=False, norm_topk_prob=family == "qwen3_moe")
        if family == "qwen2_moe":
            c.update(shared_expert_intermediate_size=192)
    elif family in DEEPSEEK:
        # MLA (kv_lora_rank 32, nope 32 + rope 16, v 32), 8 routed experts top-2 of width 96, shared experts, layer 0
        # dense (intermediate 320). V2: no q compression (q_proj, as V2-Lite), softmax, group-limited greedy; V3: q_lora
        # rank 64, sigmoid router with groups, renormalised, scaled.
        c.update(num_key_value_heads=heads, intermediate_size=inter, moe_intermediate_size=96, n_routed_experts=8,
                 num_experts_per_tok=2, first_k_dense_replace=1, kv_lora_rank=32, qk_nope_head_dim=32,
                 qk_rope_head_dim=16, v_head_dim=32, n_group=2, topk_group=1, tie_word_embeddings=False,
                 attention_bias=False, attention_dropout=0.0)
        if family == "deepseek_v2":
            c.update(q_lora_rank=None, n_shared_experts=2, topk_method="group_limited_greedy",
                     routed_scaling_factor=1.0, norm_topk_prob=False)
        else:
            c.update(q_lora_rank=64, n_shared_experts=1, routed_scaling_factor=2.5, norm_topk_prob=True)
    elif family == "gpt2":  # GPT2Config's own keys (n_embd, ...); dropouts off as in the other families
        c = {"model_type": "gpt2", "n_embd": hidden, "n_head": heads, "n_layer": layers, "n_inner": inter,
             "n_positions": 16384, "vocab_size": vocab, "activation_function": "gelu_new", "resid_pdrop": 0.0,
             "embd_pdrop": 0.0, "attn_pdrop": 0.0, "use_cache": False, "bos_token_id": 1, "eos_token_id": 2}
    elif family == "phi":  # Phi-2 style: partial rotary 0.4, parallel block, gelu_new
        c.update(num_key_value_heads=heads, intermediate_size=inter, partial_rotary_factor=0.5,
                 hidden_act="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0,
                 qk_layernorm=False, tie_word_embeddings=False)
    elif family == "starcoder2":
        c.update(num_key_value_heads=kv, intermediate_size=inter, hidden_act="gelu_pytorch_tanh", use_bias=True,
                 sliding_window=None, residual_dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0,
                 tie_word_embeddings=True)
    elif family == "gemma3_text":  # sliding layers every layer but each 6th (window > seq unless s > 128)
        c.update(num_key_value_heads=kv, intermediate_size=inter, head_dim=head_dim, query_pre_attn_scalar=head_dim,
                 sliding_window=128, hidden_activation="gelu_pytorch_tanh", attention_dropout=0.0,
                 tie_word_embeddings=True)
    elif family == "gpt_oss":  # 8 experts of width 96, top-2; layers alternate sliding (window 384) / full
        c.update(num_key_value_heads=kv, head_dim=head_dim, intermediate_size=96, num_local_experts=8,
                 num_experts_per_tok=2, sliding_window=384, attention_dropout=0.0, attention_bias=True,
                 tie_word_embeddings=False)
    elif family == "bloom":  # BloomConfig's keys (n_layer, n_head); ALiBi, eager only, 4h GELU MLP
        c = {"model_type": "bloom", "hidden_size": hidden, "n_head": heads, "n_layer": layers, "vocab_size": vocab,
             "hidden_dropout": 0.0, "attention_dropout": 0.0, "pretraining_tp": 1, "slow_but_exact": False,
             "apply_residual_connection_post_layernorm": False, "use_cache": False, "bos_token_id": 1,
             "eos_token_id": 2, "pad_token_id": 3}
    elif family in ENCODERS:  # BertConfig / RobertaConfig keys; every dropout 0 (vramcalc models dropout off)
        c = {"model_type": family, "hidden_size": hidden, "num_attention_heads": heads, "num_hidden_layers": layers,
             "intermediate_size": inter, "vocab_size": vocab, "hidden_dropout_prob": 0.0,
             "attention_probs_dropout_prob": 0.0, "use_cache": False}
        if family == "roberta":  # RoBERTa: positions offset by padding_idx + 1, one token type
            c.update(max_position_embeddings=1026, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
        else:
            c.update(max_position_embeddings=1024, pad_token_id=0)
    elif family in SEQ2SEQ:  # T5Config keys: d_kv per head, d_ff, equal stacks; dropout 0
        c = {"model_type": "t5", "d_model": hidden, "d_kv": head_dim, "num_heads": heads, "d_ff": inter,
             "num_layers": layers, "num_decoder_layers": layers, "vocab_size": vocab, "feed_forward_proj": "relu",
             "dropout_rate": 0.0, "relative_attention_num_buckets": 32, "use_cache": False, "pad_token_id": 0,
             "eos_token_id": 1, "decoder_start_token_id": 0}
    return c


def spec(family="llama", seq=256, batch=1, precision="fp32", attention="eager", ckpt="none", optimizer="adamw",
         mask="none", kind="step", shape="h128", vocab=4096, layers=3, extra=None):
    s = {"kind": kind, "family": family, "shape": shape, "vocab": vocab, "layers": layers, "seq": seq, "batch": batch,
         "precision": precision, "attention": attention, "ckpt": ckpt, "optimizer": optimizer, "mask": mask}
    if extra:
        s.update(extra)
    return s


# Gemma2ForCausalLM has no SDPA support in transformers 5.x (attention soft-capping): eager only.
ATTN = {f: (("eager",) if f in ("gemma2", "bloom") else ("eager", "sdpa")) for f in SUPPORTED + NEW + MOE + DENSE + DEEPSEEK + ENCODERS}
ATTN["gpt_oss"] = ("eager",)  # GptOssPreTrainedModel._supports_sdpa = False (sinks)

SHAPES = {  # name -> model_cfg kwargs (small hidden sizes so the s² and T·V terms dominate)
    "h128": dict(hidden=128, heads=4, kv=2, head_dim=32),
    "h64": dict(hidden=64, heads=2, kv=1, head_dim=32),
}


def run_id(sp):
    v = f"v{sp['vocab'] // 1024}k" if sp["vocab"] >= 1024 else f"v{sp['vocab']}"
    parts = ["hf", sp["kind"], sp["family"], sp["shape"], f"L{sp['layers']}", v, sp["precision"], sp["attention"],
             f"ckpt{sp['ckpt']}", sp["optimizer"], f"s{sp['seq']}", f"b{sp['batch']}", f"mask{sp['mask']}"]
    if sp["kind"] == "lora":
        parts.append(f"r{sp['lora_r']}-{sp['lora_targets']}-do{sp['lora_dropout']}" + ("-dora" if sp.get("lora_dora") else ""))
    if sp["kind"] in ("fsdp2", "fsdp1"):
        parts.append(f"w{sp['world']}-rf{int(sp['reshard'])}-mp{sp['mp']}")
    if sp["kind"] == "compile" and sp.get("compile_scope"):
        parts.append(sp["compile_scope"])
        if sp.get("replicate", 1) > 1:
            parts.append(f"hsdp{sp['replicate']}")
    if sp.get("router_logits"):
        parts.append("auxloss")
    if sp.get("head"):  # encoders: mlm, or seq-cls with its number of labels
        parts.append(sp["head"] + (f"{sp['num_labels']}" if sp["head"] == "seq-cls" else ""))
    if sp.get("target_seq"):  # T5: the decoder's (labels') length and the MLM's feed_forward_proj
        parts.append(f"t{sp['target_seq']}-{sp['ff']}")
    if sp.get("dropout"):  # T5: the config's dropout_rate (FINDINGS §34 Dropout)
        parts.append(f"drop{sp['dropout']}")
    if sp.get("fp8"):  # torchao float8 training: recipe, and "nohead" when the lm_head stays high precision
        parts.append(f"fp8{sp['fp8']}" + ("" if sp.get("fp8_head", True) else "-nohead"))
    if sp.get("fp8_all_gather"):  # FSDP2's float8 all-gather (enable_fsdp_float8_all_gather)
        parts.append("fp8ag")
    return "-".join(parts)


def grid(quick=False):
    g = []
    if quick:
        g.append(spec("llama", seq=128, precision="fp32"))
        g.append(spec("llama", seq=128, precision="bf16", attention="sdpa", ckpt="full"))
        g.append(spec("qwen3", seq=128, precision="amp"))
        g.append(spec("llama", seq=1024, shape="h64", precision="fp32", ckpt="full", layers=2))
        return g
    P3 = ("fp32", "amp", "bf16")
    # in priority order: a partial run (deadline) keeps the first blocks
    # (a) every family x precision x attention, seq 256 (saved bytes per layer and head, phase peaks)
    for fam in SUPPORTED + NEW:
        for p in P3:
            for a in ATTN[fam]:
                g.append(spec(fam, seq=256, precision=p, attention=a))
    # (b) checkpointing (non-reentrant, as transformers 5) x precision x attention, llama + gemma2 + phi3
    for fam in ("llama", "gemma2", "phi3"):
        for p in P3:
            for a in ATTN[fam]:
                g.append(spec(fam, seq=256, precision=p, attention=a, ckpt="full"))
    for p in P3:
        g.append(spec("llama", seq=256, precision=p, attention="eager", ckpt="selective"))
    # (c) long sequences, small hidden: s² terms dominate (eager; sdpa for comparison); batch 1-2
    for s, b in ((1024, 1), (2048, 1), (2048, 2), (4096, 1), (8192, 1)):
        for p in ("fp32", "bf16"):
            for c in ("none", "full"):
                g.append(spec("llama", seq=s, batch=b, precision=p, attention="eager", ckpt=c, shape="h64",
                              layers=2))
            if s in (2048, 8192):
                g.append(spec("llama", seq=s, batch=b, precision=p, attention="sdpa", ckpt="full", shape="h64",
                              layers=2))
    for s in (2048, 4096):
        g.append(spec("llama", seq=s, batch=1, precision="amp", attention="eager", ckpt="full", shape="h64", layers=2))
        g.append(spec("gemma2", seq=s, batch=1, precision="bf16", attention="eager", ckpt="full", shape="h64",
                      layers=2))
    g.append(spec("llama", seq=512, batch=4, precision="bf16", attention="eager", ckpt="full", shape="h64", layers=2))
    # (d) large vocabularies: T·V terms dominate
    for v, s in ((32768, 1024), (131072, 512), (131072, 1024)):
        for p in P3:
            g.append(spec("llama", seq=s, precision=p, attention="sdpa", shape="h64", vocab=v, layers=2))
    g.append(spec("gemma2", seq=512, precision="bf16", attention="eager", shape="h64", vocab=131072, layers=2))
    # (e) padding masks and packed sequences
    for m in ("padding", "packed"):
        for a in ("eager", "sdpa"):
            for p in ("fp32", "bf16"):
                g.append(spec("llama", seq=256, batch=2, precision=p, attention=a, mask=m))
                if p == "bf16":
                    g.append(spec("llama", seq=256, batch=2, precision=p, attention=a, mask=m, ckpt="full"))
    # (f) optimizers
    for o in ("adamw-fused", "adamw-forloop", "sgd", "sgd-momentum", "adafactor"):
        for p in ("fp32", "bf16"):
            g.append(spec("llama", seq=256, precision=p, optimizer=o))
    # (g) batch
    for b in (2, 4):
        g.append(spec("llama", seq=256, batch=b, precision="bf16", attention="sdpa"))
        g.append(spec("mistral", seq=256, batch=b, precision="amp", attention="eager"))
    # (h) new families at more shapes for the lead (saved per layer): seq 64 and 1024
    for fam in NEW:
        g.append(spec(fam, seq=64, precision="fp32", attention="eager", shape="h64", layers=2))
        for p in ("fp32", "bf16"):
            for a in ("eager", "sdpa"):
                g.append(spec(fam, seq=1024, precision=p, attention=a, shape="h64", layers=2))
    # (i) LoRA (peft), FSDP2, torch.compile: record kinds of their own, predict: false
    for p in ("fp32", "bf16"):
        for r, t, d in ((8, "qv", 0.0), (16, "all", 0.0), (16, "all", 0.1)):
            g.append(spec("llama", seq=256, precision=p, attention="sdpa", kind="lora",
                          extra={"lora_r": r, "lora_targets": t, "lora_dropout": d}))
    g.append(spec("llama", seq=256, precision="bf16", attention="sdpa", ckpt="full", kind="lora",
                  extra={"lora_r": 16, "lora_targets": "all", "lora_dropout": 0.0}))
    # DoRA (peft tuners/lora/dora.py DoraLinearLayer): magnitude vector + weight-norm path
    for p in ("fp32", "bf16"):
        for r, t in ((8, "qv"), (16, "all")):
            g.append(spec("llama", seq=256, precision=p, attention="sdpa", kind="lora",
                          extra={"lora_r": r, "lora_targets": t, "lora_dropout": 0.0, "lora_dora": True}))
    for w in (2, 4):
        for rf in (True, False):
            for mp in ("none", "bf16"):
                g.append(spec("llama", seq=256, precision="fp32", attention="sdpa", kind="fsdp2", layers=2,
                              extra={"world": w, "reshard": rf, "mp": mp}))
    # FSDP1: FullyShardedDataParallel, FULL_SHARD, limit_all_gathers, FlatParameter per decoder layer + root
    for rf, mp in ((True, "none"), (True, "bf16"), (False, "none")):  # rf False: SHARD_GRAD_OP
        g.append(spec("llama", seq=256, precision="fp32", attention="sdpa", kind="fsdp1", layers=2,
                      extra={"world": 2, "reshard": rf, "mp": mp}))
    # HSDP: fully_shard over a (replicate 2, shard 2) mesh of 4 processes
    for rf, mp in ((True, "none"), (False, "none"), (True, "bf16"), (True, "bf16-bf16")):
        g.append(spec("llama", seq=256, precision="fp32", attention="sdpa", kind="fsdp2", layers=2,
                      extra={"world": 4, "reshard": rf, "mp": mp, "replicate": 2}))
    for p, a in (("fp32", "sdpa"), ("bf16", "eager")):  # inductor compiles C++: minutes per run
        g.append(spec("llama", seq=256, precision=p, attention=a, kind="compile", layers=2))
    # issue 11: the compile grid (the partitioner's saved set per op pattern): precision x checkpointing x length,
    # h128 at 256, h64 at 2048 (the loss's T x V terms and s^2 terms dominate), sdpa and eager
    for p in ("fp32", "bf16"):
        g.append(spec("llama", seq=256, precision=p, attention="sdpa", kind="compile", layers=2, ckpt="full"))
        g.append(spec("llama", seq=2048, precision=p, attention="sdpa", kind="compile", layers=2, shape="h64"))
    g.append(spec("llama", seq=256, precision="bf16", attention="sdpa", kind="compile", layers=2))
    g.append(spec("llama", seq=1024, precision="fp32", attention="eager", kind="compile", layers=2, shape="h64"))
    g.append(spec("llama", seq=2048, precision="bf16", attention="sdpa", kind="compile", layers=2, shape="h64",
                  ckpt="full"))
    # per-block compile (torchtune compile_model, torchtitan apply_compile): the loss and head stay eager
    for p in ("fp32", "bf16"):
        g.append(spec("llama", seq=256, precision=p, attention="sdpa", kind="compile", layers=2,
                      extra={"compile_scope": "blocks"}))
    # torchtitan 9dec370: each block compiled, the loss eager ("blocks-eager-loss"), op-level SAC (torchtitan's
    # _save_list policy) wrapping each block before it is compiled; h64 (one KV head) at 1024 for the s-terms
    for p in ("bf16", "fp32"):
        for c in ("none", "op-sac"):
            g.append(spec("llama", seq=256, precision=p, attention="sdpa", kind="compile", layers=2, ckpt=c,
                          extra={"compile_scope": "blocks-eager-loss"}))
    g.append(spec("llama", seq=1024, precision="bf16", attention="sdpa", kind="compile", layers=2, ckpt="op-sac",
                  shape="h64", extra={"compile_scope": "blocks-eager-loss"}))
    g.append(spec("llama", seq=256, precision="bf16", attention="sdpa", kind="compile", layers=2, ckpt="op-sac",
                  extra={"compile_scope": "blocks"}))
    # (j) mixtures of experts (transformers 5 default experts implementation, grouped_mm): every MoE family x
    # precision x attention at seq 256, full checkpointing, batch 2; the routed tokens per expert are recorded
    for fam in MOE:
        for p in P3:
            for a in ATTN[fam]:
                g.append(spec(fam, seq=256, precision=p, attention=a))
        for p in ("fp32", "bf16"):
            g.append(spec(fam, seq=256, precision=p, attention="sdpa", ckpt="full"))
        g.append(spec(fam, seq=128, batch=2, precision="bf16", attention="sdpa"))
    # a vocabulary of 256 so that an MoE layer's backward, not the loss, holds the backward peak
    for fam in ("mixtral", "qwen3_moe"):
        for c in ("none", "full"):
            g.append(spec(fam, seq=512, precision="bf16", attention="sdpa", ckpt=c, vocab=256))
    # (k) fine-tuning optimizers: bitsandbytes 8-bit, torchao 8/4-bit (torch.compile'd step: minutes per run),
    #     torch AdamW stepped inside backward per parameter (torchtune optimizer_in_bwd)
    for o in ("adamw-8bit", "ao-adamw-8bit", "ao-adamw-4bit", "adamw-inbwd", "adamw-fused-inbwd"):
        for p in ("fp32", "bf16"):
            g.append(spec("llama", seq=256, precision=p, attention="sdpa", optimizer=o))
    # (l) issue 14's dense families: every precision x attention at seq 256, and seq 1024 (s² terms, and past
    # Gemma 3's 128-token window)
    for fam in DENSE:
        for p in P3:
            for a in ATTN[fam]:
                g.append(spec(fam, seq=256, precision=p, attention=a))
        for p in ("fp32", "bf16"):
            for a in ATTN[fam]:
                g.append(spec(fam, seq=1024, precision=p, attention=a, shape="h64", layers=2))
    for fam in ("gpt2", "bloom"):  # batch 2: matmul copies the q, k, v views (no RoPE)
        g.append(spec(fam, seq=256, batch=2, precision="bf16", attention="eager"))
    # (m) gpt_oss (4 layers: sliding, full, sliding, full; window 384): every precision at seq 256 (inside the
    # window), seq 512 past it with a vocabulary of 256 (an MoE layer's backward holds the peak), full checkpointing
    for p in P3:
        g.append(spec("gpt_oss", seq=256, precision=p, attention="eager", layers=4))
        g.append(spec("gpt_oss", seq=512, precision=p, attention="eager", layers=4, vocab=256))
    g.append(spec("gpt_oss", seq=256, precision="bf16", attention="eager", layers=4, ckpt="full"))
    g.append(spec("gpt_oss", seq=128, batch=2, precision="fp32", attention="eager", layers=4))
    # output_router_logits: the load-balancing aux loss (transformers load_balancing_loss_func)
    for fam, p in (("mixtral", "bf16"), ("qwen3_moe", "fp32"), ("qwen2_moe", "amp")):
        g.append(spec(fam, seq=256, precision=p, attention="sdpa", extra={"router_logits": True}))
    # (n) DeepSeek-V2/V3 (MLA, shared experts, first_k_dense_replace): every precision x attention at seq 256,
    # full checkpointing, batch 2
    for fam in DEEPSEEK:
        for p in P3:
            for a in ATTN[fam]:
                g.append(spec(fam, seq=256, precision=p, attention=a))
        g.append(spec(fam, seq=256, precision="bf16", attention="sdpa", ckpt="full"))
        g.append(spec(fam, seq=128, batch=2, precision="bf16", attention="sdpa"))
    # (m) issue 14's encoders (BertForMaskedLM, BertForSequenceClassification, Roberta...): h64, 2 layers, vocab
    # 1000 (the masked-LM logits stay small beside the layers), seq 128 and 512, fp32 / bf16 / amp x eager / sdpa
    for fam in ENCODERS:
        for head in ({"head": "mlm"}, {"head": "seq-cls", "num_labels": 3}):
            for p in P3:
                for a in ATTN[fam]:
                    g.append(spec(fam, seq=128, batch=2, precision=p, attention=a, shape="h64", vocab=1000, layers=2,
                                  extra=head))
            for p in ("fp32", "bf16"):
                g.append(spec(fam, seq=512, precision=p, attention="sdpa" if p == "fp32" else "eager", shape="h64",
                              vocab=1000, layers=2, extra=head))
    # (o) T5ForConditionalGeneration (FINDINGS §34): h64, 2 heads x d_kv 32, 2 + 2 layers, vocab 1000, encoder
    # length 128, decoder length 64, batch 2: fp32 / bf16 / amp eager, fp32 sdpa, gated-gelu, full checkpointing
    t5 = {"target_seq": 64, "ff": "relu"}
    for p in P3:
        g.append(spec("t5", seq=128, batch=2, precision=p, attention="eager", shape="h64", vocab=1000, layers=2, extra=t5))
    g.append(spec("t5", seq=128, batch=2, precision="fp32", attention="sdpa", shape="h64", vocab=1000, layers=2, extra=t5))
    g.append(spec("t5", seq=128, batch=2, precision="fp32", attention="eager", shape="h64", vocab=1000, layers=2,
                  extra={"target_seq": 64, "ff": "gated-gelu"}))
    g.append(spec("t5", seq=128, batch=2, precision="bf16", attention="eager", shape="h64", vocab=1000, layers=2,
                  ckpt="full", extra=t5))
    # the released configs' dropout_rate 0.1 (FINDINGS §34 Dropout): fp32 and bf16 eager
    for p in ("fp32", "bf16"):
        g.append(spec("t5", seq=128, batch=2, precision=p, attention="eager", shape="h64", vocab=1000, layers=2,
                      extra=dict(t5, dropout=0.1)))
    g.append(spec("t5", seq=128, batch=2, precision="bf16", attention="eager", shape="h64", vocab=1000, layers=2,
                  ckpt="full", extra=dict(t5, dropout=0.1)))
    # (p) issue 11: torchao float8 training (convert_to_float8_training, torchao 0.18; every Linear with dims % 16 == 0,
    # lm_head included as in torchtitan's default filter; "fp8_head": False keeps it high precision): recipe x
    # precision, checkpointing, a long-sequence h64 shape
    for r in ("tensorwise", "rowwise"):
        for p in P3:
            g.append(spec("llama", seq=256, precision=p, attention="sdpa", layers=2, extra={"fp8": r}))
        g.append(spec("llama", seq=256, precision="bf16", attention="sdpa", layers=2, ckpt="full", extra={"fp8": r}))
        g.append(spec("llama", seq=1024, precision="bf16", attention="sdpa", layers=2, shape="h64", extra={"fp8": r}))
        g.append(spec("llama", seq=256, batch=2, precision="bf16", attention="sdpa", layers=2,
                      extra={"fp8": r, "fp8_head": False}))
    # (q) issue 11: FSDP2 with torchao float8 (tensorwise), the float8 all-gather off / on (FINDINGS §38)
    for seq, w in ((256, 2), (512, 2), (256, 4)):
        for ag in (False, True):
            g.append(spec("llama", seq=seq, precision="fp32", attention="sdpa", kind="fsdp2", layers=2,
                          extra={"world": w, "reshard": True, "mp": "bf16", "fp8": "tensorwise", "fp8_all_gather": ag}))
    # FSDP1 with float8 Linears (no float8 all-gather there): lm_head's fp8 backward instant under FULL_SHARD
    g.append(spec("llama", seq=256, precision="fp32", attention="sdpa", kind="fsdp1", layers=2,
                  extra={"world": 2, "reshard": True, "mp": "bf16", "fp8": "tensorwise"}))
    return g


# ----------------------------------------------------------------------------------------------------------
# The measurement (runs in a child process)
# ----------------------------------------------------------------------------------------------------------


def convert_fp8(model, sp):
    """torchao float8 training (torchao.float8.convert_to_float8_training with Float8LinearConfig.from_recipe_name):
    every nn.Linear whose in and out features are multiples of 16 (torchtitan components/quantization/utils.py
    module_filter_fn, filter_fqns empty by default); with fp8_head False the lm_head stays a plain Linear (torchtitan's
    filter_fqns=["lm_head"] / ["output"]). Returns the converted modules' names."""
    import torch.nn as nn
    from torchao.float8 import Float8LinearConfig, convert_to_float8_training
    keep_head = sp.get("fp8_head", True)
    names = []

    def keep(mod, fqn):
        ok = (isinstance(mod, nn.Linear) and mod.in_features % 16 == 0 and mod.out_features % 16 == 0
              and (keep_head or "lm_head" not in fqn))
        if ok:
            names.append(fqn)
        return ok

    config = Float8LinearConfig.from_recipe_name(sp["fp8"])
    if sp.get("fp8_all_gather"):  # FSDP2's float8 all-gather (torchao asserts tensorwise); fsdp2 kind only
        import dataclasses
        config = dataclasses.replace(config, enable_fsdp_float8_all_gather=True)
    convert_to_float8_training(model, module_filter_fn=keep, config=config)
    return names


def measure(sp):
    import torch
    import torch.nn as nn
    import torch.utils.checkpoint as tuc
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    US = torch.UntypedStorage
    DT = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16", torch.int64: "i64",
          torch.bool: "bool", torch.uint8: "u8", torch.int32: "i32", torch.float64: "fp64",
          torch.float8_e4m3fn: "fp8e4m3", torch.float8_e5m2: "fp8e5m2"}
    MARK_BEGIN, MARK_END = 7777777, 7777779

    class LiveTracker(TorchDispatchMode):
        """Bytes of live tensor storages. Every aten op's outputs are reduced to their StorageImpl (views share
        it, counted once) and followed by a weak reference; a storage leaves `live` when it dies. Frees are swept
        lazily, whenever `live` (an upper bound) could be a new peak, so peaks are exact at op granularity.
        Each storage also gets a taint: 'P' parameter, 'PD' computed from parameters only (autocast's weight
        casts), 'A' derived from the input ids (activations), 'C' anything else (masks, rotary tables, labels),
        and the forward window it was made in (module hooks)."""

        def __init__(self):
            super().__init__()
            self.st = {}  # cdata -> [weakref, nbytes, serial]
            self.info = {}  # serial -> [nbytes, op, shape, dtype, taint, window]
            self.live = 0
            self.serial = 0
            self.window = "build"
            self.phase = None
            self.phases = {}
            self.taint = {}  # cdata -> taint (while alive)
            self.nops = 0
            self.into_subclasses = bool(sp.get("fp8"))

        def entry(self, t):
            return self.st.get(t.untyped_storage()._cdata)

        def track(self, t, op, taint):
            if type(t) is not torch.Tensor and hasattr(type(t), "__tensor_flatten__"):
                # a wrapper tensor subclass (torchao's low-bit optimizer states): no storage of its own; its
                # inner tensors (codes, scale, qmap) are tracked where the aten ops that made them ran
                return None
            s = t.untyped_storage()
            k = s._cdata
            n = s.nbytes()
            e = self.st.get(k)
            if e is not None:
                if e[1] != n:
                    self.live += n - e[1]
                    e[1] = n
                    self.info[e[2]][0] = n
                return e[2]
            if n == 0:
                return None
            self.serial += 1
            self.st[k] = [s._weak_ref(), n, self.serial]
            self.info[self.serial] = [n, op, tuple(t.shape), DT.get(t.dtype, str(t.dtype)), taint, self.window]
            self.live += n
            return self.serial

        def taint_of(self, t):
            e = self.st.get(t.untyped_storage()._cdata)
            return self.info[e[2]][4] if e else "C"

        def set_taint(self, t, taint):
            e = self.st.get(t.untyped_storage()._cdata)
            if e:
                self.info[e[2]][4] = taint

        def sweep(self):
            expired = US._expired
            dead = [k for k, e in self.st.items() if expired(e[0])]
            for k in dead:
                w, n, _ = self.st.pop(k)
                US._free_weak_ref(w)
                self.live -= n

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if self.into_subclasses and any(t is not torch.Tensor and hasattr(t, "__tensor_flatten__") for t in types):
                # fp8 runs: let the subclass (torchao Float8TrainingTensor) dispatch first; the mode stays on the stack
                # and sees the plain ops it runs (the layout copies and _scaled_mm inside float8_mm)
                return NotImplemented
            out = func(*args, **kwargs)
            self.nops += 1
            ins = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            tin = set(self.taint_of(t) for t in ins)
            if "A" in tin:
                taint = "A"
            elif ins and tin <= {"P", "PD"}:
                taint = "PD"
            else:
                taint = "C"
            name = None
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    if name is None:
                        name = str(func).replace("aten.", "")
                    self.track(t, name, taint)
            self.check(name)
            return out

        def check(self, opname):
            ph = self.phase
            if ph is None:
                return
            ph["nops"] += 1
            if self.live <= ph["peak"]:
                return
            self.sweep()
            if self.live > ph["peak"]:
                ph["peak"] = self.live
                ph["peak_op"] = opname
                ph["peak_op_index"] = ph["nops"]
                ph["peak_window"] = self.window
                ph["snap"] = [e[2] for e in self.st.values()]

        def begin(self, name):
            self.end_phase()
            self._marker(MARK_BEGIN)
            self.sweep()
            self.phase = {"start": self.live, "peak": self.live, "peak_op": "(phase start)", "peak_op_index": 0,
                          "nops": 0, "peak_window": self.window, "snap": [e[2] for e in self.st.values()]}
            self.phases[name] = self.phase

        def end_phase(self):
            if self.phase is not None:
                self.sweep()
                self.phase["end"] = self.live
                self.phase = None
                self._marker(MARK_END)

        @staticmethod
        def _marker(n):
            m = torch.empty(n, dtype=torch.uint8)
            del m

        def live_serials(self):
            self.sweep()
            return [e[2] for e in self.st.values()]

    def allocator_phases(prof):
        try:
            events = [e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        except Exception:
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

    torch.manual_seed(0)
    res = {"spec": sp, "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft
        res["peft"] = peft.__version__
    except Exception:
        res["peft"] = None
    for mod in ("bitsandbytes", "torchao"):
        if mod == "torchao" and sp.get("fp8"):
            res[mod] = __import__(mod).__version__
        if mod in sp["optimizer"] or (mod == "torchao" and sp["optimizer"].startswith("ao-")) or \
                (mod == "bitsandbytes" and sp["optimizer"] == "adamw-8bit"):
            res[mod] = __import__(mod).__version__
    prec = sp["precision"]
    wdtype = torch.bfloat16 if prec == "bf16" else torch.float32
    amp = prec == "amp"
    cfgd = model_cfg(sp["family"], vocab=sp["vocab"], layers=sp["layers"], **SHAPES[sp["shape"]])
    if sp.get("ff"):
        cfgd["feed_forward_proj"] = sp["ff"]
    if sp.get("dropout"):  # T5: dropout_rate in training (the CPU saves e-byte noise where CUDA saves bool masks)
        cfgd["dropout_rate"] = sp["dropout"]
    if sp.get("router_logits"):  # MoE: the load-balancing aux loss is computed with the loss
        cfgd["output_router_logits"] = True
    res["model"] = cfgd
    tr = LiveTracker()
    t_start = time.time()

    # selective: transformers has no selective recompute; Megatron's (Korthikanti et al. 2022) recomputes the core
    # attention (scores, softmax, dropout, probs·V). Reproduced by checkpointing the family's eager attention
    # function (non-reentrant) inside each layer.
    attn_impl = sp["attention"]
    if sp["ckpt"] == "selective":
        import importlib
        mod = importlib.import_module(f"transformers.models.{sp['family']}.modeling_{sp['family']}")
        orig_eager = mod.eager_attention_forward

        def eager_sel(module, q, k, v, mask, *a, **kw):
            return tuc.checkpoint(lambda q_, k_, v_, m_: orig_eager(module, q_, k_, v_, m_, *a, **kw), q, k, v, mask,
                                  use_reentrant=False)

        mod.eager_attention_forward = eager_sel

    with tr:
        tr.window = "build"
        cfg = AutoConfig.for_model(**cfgd)
        cfg.use_cache = False
        if sp.get("head") == "seq-cls":
            from transformers import AutoModelForSequenceClassification
            cfg.num_labels = sp["num_labels"]
            model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation=attn_impl, dtype=wdtype)
        elif sp["family"] in SEQ2SEQ:
            from transformers import AutoModelForSeq2SeqLM
            model = AutoModelForSeq2SeqLM.from_config(cfg, attn_implementation=attn_impl, dtype=wdtype)
        elif sp.get("head") == "mlm":
            from transformers import AutoModelForMaskedLM
            model = AutoModelForMaskedLM.from_config(cfg, attn_implementation=attn_impl, dtype=wdtype)
        else:
            model = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn_impl, dtype=wdtype)
        model.train()
        if sp.get("fp8"):
            res["fp8_converted"] = convert_fp8(model, sp)
        if sp["kind"] == "lora":
            from peft import LoraConfig, get_peft_model
            targets = {"qv": ["q_proj", "v_proj"],
                       "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
            lcfg = LoraConfig(r=sp["lora_r"], lora_alpha=2 * sp["lora_r"], lora_dropout=sp["lora_dropout"],
                              target_modules=targets[sp["lora_targets"]], task_type="CAUSAL_LM",
                              use_dora=bool(sp.get("lora_dora", False)))
            model = get_peft_model(model, lcfg)
        if sp["ckpt"] == "full":
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if sp["kind"] == "lora":
                model.enable_input_require_grads()
    params = [p for p in model.parameters()]
    trainable = [p for p in params if p.requires_grad]
    for p in params:
        tr.set_taint(p, "P")
    for b in model.buffers():
        tr.set_taint(b, "C")
    param_keys = set(tr.entry(p)[2] for p in params if tr.entry(p))
    res["n_params"] = sum(p.numel() for p in params)
    res["n_trainable"] = sum(p.numel() for p in trainable)
    res["param_bytes"] = sum(p.numel() * p.element_size() for p in params)

    # windows: every decoder layer and its direct children, final norm, lm_head, loss
    base = model.get_base_model() if sp["kind"] == "lora" else model
    encoder = sp["family"] in ENCODERS
    seq2seq = sp["family"] in SEQ2SEQ
    layers = list(base.encoder.block) if seq2seq else base.base_model.encoder.layer if encoder else \
        base.model.layers if hasattr(base, "model") and hasattr(base.model, "layers") else \
        (base.gpt_neox.layers if hasattr(base, "gpt_neox") else base.transformer.h)
    hooks = []

    def set_window(label):
        def pre(mod, *a, **k):
            if tr.prefix:
                tr.window = tr.prefix + label
        return pre

    tr.prefix = ""
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(set_window(f"L{i}")))
        for cname, child in layer.named_children():
            hooks.append(child.register_forward_pre_hook(set_window(f"L{i}")))
    if seq2seq:
        # encoder blocks L0.., the encoder's final norm, the decoder's embedding, decoder blocks D0.., the decoder's
        # final norm and lm_head ("head"), the loss after lm_head
        for i, blk in enumerate(base.decoder.block):
            hooks.append(blk.register_forward_pre_hook(set_window(f"D{i}")))
            for cname, child in blk.named_children():
                hooks.append(child.register_forward_pre_hook(set_window(f"D{i}")))
        hooks.append(base.encoder.final_layer_norm.register_forward_pre_hook(set_window("encoder_norm")))
        hooks.append(base.decoder.embed_tokens.register_forward_pre_hook(set_window("decoder_embed")))
        hooks.append(base.decoder.final_layer_norm.register_forward_pre_hook(set_window("head")))
        hooks.append(base.lm_head.register_forward_pre_hook(set_window("head")))
        hooks.append(base.lm_head.register_forward_hook(lambda m, i, o: set_window("loss")(m)))
    elif encoder:
        # the head after the encoder: the MLM head (cls.predictions / lm_head: transform, LayerNorm, decoder) or the
        # classification head (BERT: pooler + classifier; RoBERTa: classifier = RobertaClassificationHead); the loss
        # window starts after the last Linear (decoder / classifier / out_proj)
        heads = [m for m in (getattr(base, "cls", None), getattr(base, "lm_head", None),
                             getattr(base.base_model, "pooler", None), getattr(base, "classifier", None)) if m is not None]
        for hm in heads:
            hooks.append(hm.register_forward_pre_hook(set_window("head")))
        last = [m for m in heads[-1].modules() if isinstance(m, nn.Linear)][-1]
        hooks.append(last.register_forward_hook(lambda m, i, o: set_window("loss")(m)))
    else:
        inner = base.model if hasattr(base, "model") else (base.gpt_neox if hasattr(base, "gpt_neox") else base.transformer)
        head_norm = next(getattr(inner, nm) for nm in ("norm", "final_layer_norm", "final_layernorm", "ln_f")
                         if getattr(inner, nm, None) is not None)
        hooks.append(head_norm.register_forward_pre_hook(set_window("head")))
        lm_head = base.get_output_embeddings()
        hooks.append(lm_head.register_forward_pre_hook(set_window("head")))
        hooks.append(lm_head.register_forward_hook(lambda m, i, o: set_window("loss")(m)))
    # MoE: routed tokens per expert in each layer's router (the last forward's counts are kept)
    res["expert_tokens"] = {}

    def count_routed(label):
        def post(mod, inp, out):
            idx = out[-1].reshape(-1)
            res["expert_tokens"][label] = [int((idx == e).sum()) for e in range(mod.num_experts)]
        return post

    for i, layer in enumerate(layers):
        for mname, mod in layer.named_modules():
            if type(mod).__name__.lower().endswith("topkrouter"):
                hooks.append(mod.register_forward_hook(count_routed(f"L{i}")))
    if hasattr(model.config, "_experts_implementation"):
        res["experts_implementation"] = model.config._experts_implementation

    # load: what lives after the model is built, before inputs and optimizer exist
    with tr:
        tr.begin("load")
        tr.end_phase()
    load_phase = dict(tr.phases["load"])

    # inputs
    b, s, V = sp["batch"], sp["seq"], sp["vocab"]
    gen = torch.Generator().manual_seed(1)
    with tr:
        tr.window = "inputs"
        ids = torch.randint(0, V, (b, s), generator=gen)
        labels = ids.clone()
        if sp.get("target_seq"):  # T5: the decoder's labels, their own length (decoder_input_ids = shifted labels)
            labels = torch.randint(0, V, (b, sp["target_seq"]), generator=gen)
        if sp.get("head") == "seq-cls":  # one class per sequence (single_label_classification: CrossEntropyLoss)
            labels = torch.randint(0, sp["num_labels"], (b,), generator=gen)
        kw = {}
        if sp["mask"] == "padding":  # right padding: the last quarter of row 0 is padding, ignored in the loss
            am = torch.ones(b, s, dtype=torch.long)
            am[0, 3 * s // 4:] = 0
            labels[0, 3 * s // 4:] = -100
            kw["attention_mask"] = am
        elif sp["mask"] == "packed":  # two documents per row, told by position_ids (no attention_mask)
            half = s // 2
            kw["position_ids"] = torch.cat([torch.arange(half), torch.arange(s - half)]).expand(b, s).contiguous()
    tr.set_taint(ids, "A")
    if sp.get("target_seq"):
        tr.set_taint(labels, "A")  # the decoder's activations derive from the labels
    input_keys = set(tr.entry(t)[2] for t in [ids, labels] + list(kw.values()))

    # optimizer
    opt_name = sp["optimizer"]
    with tr:
        if opt_name == "adamw":
            opt = torch.optim.AdamW(trainable, lr=1e-4, foreach=True)
        elif opt_name == "adamw-fused":
            opt = torch.optim.AdamW(trainable, lr=1e-4, fused=True)
        elif opt_name == "adamw-forloop":
            opt = torch.optim.AdamW(trainable, lr=1e-4, foreach=False)
        elif opt_name == "sgd":
            opt = torch.optim.SGD(trainable, lr=1e-3, foreach=True)
        elif opt_name == "sgd-momentum":
            opt = torch.optim.SGD(trainable, lr=1e-3, momentum=0.9, foreach=True)
        elif opt_name == "adafactor":
            from transformers.optimization import Adafactor
            opt = Adafactor(trainable, lr=1e-3, scale_parameter=False, relative_step=False, warmup_init=False)
        elif opt_name == "adamw-8bit":
            import bitsandbytes as bnb
            opt = bnb.optim.AdamW8bit(trainable, lr=1e-4)
        elif opt_name in ("ao-adamw-8bit", "ao-adamw-4bit"):
            # dynamo refuses to compile under the tracker's TorchDispatchMode ("non-infra torch dispatch mode
            # present"), so torchao's per-parameter step runs eagerly here: the states are torchao's own, the
            # step's temporaries are the eager ones (the compiled kernel's are not measured)
            torch.compile = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)
            from torchao.optim import AdamW4bit, AdamW8bit
            opt = (AdamW8bit if opt_name == "ao-adamw-8bit" else AdamW4bit)(trainable, lr=1e-4)
        elif opt_name in ("adamw-inbwd", "adamw-fused-inbwd"):
            # torchtune modules/optim.py OptimizerInBackward: one optimizer per parameter, stepped and zeroed in
            # the parameter's post-accumulate-grad hook, so each gradient is freed as soon as it is made
            fused = opt_name == "adamw-fused-inbwd"
            per_param = {q: torch.optim.AdamW([q], lr=1e-4, fused=fused, foreach=None if fused else True)
                         for q in trainable}

            def inbwd_hook(q):
                per_param[q].step()
                per_param[q].zero_grad(set_to_none=True)

            for q in trainable:
                q.register_post_accumulate_grad_hook(inbwd_hook)

            class _InBwd:
                state = {}

                def step(self):
                    pass

                def zero_grad(self, set_to_none=True):
                    pass
            opt = _InBwd()
            opt.per_param = per_param
        else:
            raise ValueError(opt_name)

    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else contextlib.nullcontext

    # saved-for-backward bookkeeping (first forward): storages counted once, at the window of their first pack
    packed = {}  # serial -> [window, holders]

    def pack(t):
        e = tr.entry(t)
        if e is not None and e[2] not in packed:
            packed[e[2]] = tr.window
        return t

    def unpack(t):
        return t

    compiled = None
    if sp["kind"] == "compile":
        compiled = torch.compile(model, backend="inductor")
    fwd_model = compiled or model

    def forward_loss():
        with ac():
            out = fwd_model(input_ids=ids, labels=labels, use_cache=False, **kw)
            loss = out.loss
            del out  # transformers.Trainer.compute_loss keeps only the loss
        return loss

    steps = []
    saved_after_fw = None
    alloc = None
    for step in range(2):
        measured = step == 1
        prof_cm = contextlib.nullcontext()
        if measured and sp["kind"] != "compile":
            from torch.profiler import profile, ProfilerActivity
            prof_cm = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        with prof_cm as prof, tr:
            st = {}
            if step == 0:
                st["load"] = load_phase
            tr.prefix = "fw."
            tr.window = "fw.embed"
            tr.begin("forward")
            if step == 0 and sp["kind"] != "compile":
                with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
                    loss = forward_loss()
            else:
                loss = forward_loss()
            tr.end_phase()
            if step == 0:
                saved_after_fw = tr.live_serials()
            tr.prefix = "bw."
            tr.window = "bw.head"
            tr.begin("backward")
            loss.backward()
            loss_val = float(loss.detach().float())
            del loss
            tr.end_phase()
            grad_keys = set(tr.entry(p.grad)[2] for p in trainable if p.grad is not None and tr.entry(p.grad))
            tr.prefix = ""
            tr.window = "step"
            tr.begin("optimizer_step")
            opt.step()
            opt.zero_grad(set_to_none=True)
            tr.end_phase()
            tr.window = "idle"
            for k in ("forward", "backward", "optimizer_step"):
                st[k] = dict(tr.phases[k])
            st["loss"] = loss_val
            st["grad_keys"] = grad_keys
        if measured and prof is not None:
            alloc = allocator_phases(prof)
            del prof
        steps.append(st)
    state_keys = set()
    states = ([o.state[q] for q, o in opt.per_param.items()] if hasattr(opt, "per_param")
              else list(opt.state.values()))
    step_keys = set()  # the 0-dim step counters (torchao, torch foreach: host tensors on a GPU too)
    for stt in states:
        for k, v in stt.items():
            # torchao's low-bit states are tensor subclasses: count their inner tensors (codes, scale, qmap)
            inner = [getattr(v, n) for n in v.__tensor_flatten__()[0]] if hasattr(v, "__tensor_flatten__") else [v]
            for t in inner:
                if isinstance(t, torch.Tensor) and tr.entry(t):
                    state_keys.add(tr.entry(t)[2])
                    if k == "step":
                        step_keys.add(tr.entry(t)[2])
    for h in hooks:
        h.remove()
    res["wall_s"] = round(time.time() - t_start, 2)

    # ---- saved bytes per window (first forward), by taint
    info = tr.info
    per_window = {}
    rows = {}
    for ser, win in packed.items():
        n, op, shape, dt, taint, made = info[ser]
        cls = {"A": "act", "P": "param", "PD": "param_cast", "C": "const"}[taint]
        d = per_window.setdefault(win, {"act": 0, "param": 0, "param_cast": 0, "const": 0})
        d[cls] += n
        rows.setdefault(win, []).append([n, dt, list(shape), cls, op, made])
    res["saved_by_window"] = per_window
    res["saved_rows"] = {w: sorted(r, key=lambda x: -x[0]) for w, r in rows.items()}
    # kept after the forward (what lives from the end of the forward to backward), by creation window, taint A
    kept = {}
    for ser in saved_after_fw:
        n, op, shape, dt, taint, made = info[ser]
        if taint == "A":
            kept[made] = kept.get(made, 0) + n
    res["act_alive_after_forward_by_window"] = kept

    # ---- phases
    def classify(snap, grads):
        out = {"param": 0, "grad": 0, "opt_state": 0, "input": 0, "param_cast": 0, "act": 0, "other": 0}
        others = []
        for ser in snap:
            n = info[ser][0]
            if ser in param_keys:
                c = "param"
            elif ser in grads:
                c = "grad"
            elif ser in state_keys:
                c = "opt_state"
            elif ser in input_keys:
                c = "input"
            elif info[ser][4] == "PD":
                c = "param_cast"  # autocast's weight casts; in optimizer_step: the step's parameter-sized temporaries
            elif info[ser][4] == "A":
                c = "act"
                others.append(ser)
            else:
                c = "other"
                others.append(ser)
            out[c] += n
        others.sort(key=lambda x: -info[x][0])
        top = [[info[x][0], info[x][3], list(info[x][2]), info[x][1], info[x][5], info[x][4]] for x in others[:6]]
        return out, top

    out_steps = []
    for i, st in enumerate(steps):
        o = {"loss": st["loss"]}
        for k in ("load", "forward", "backward", "optimizer_step"):
            if k not in st:
                continue
            ph = st[k]
            cls, top = classify(ph["snap"], st["grad_keys"] if k != "forward" or i > 0 else set())
            o[k] = {"start": ph["start"], "peak": ph["peak"], "end": ph["end"], "peak_op": ph["peak_op"],
                    "peak_op_index": [ph["peak_op_index"], ph["nops"]], "peak_window": ph["peak_window"],
                    "at_peak": cls, "top_at_peak": top}
        out_steps.append(o)
    res["steps"] = out_steps
    res["allocator_check"] = alloc
    res["state_bytes"] = sum(info[k][0] for k in state_keys)
    res["step_counter_bytes"] = sum(info[k][0] for k in step_keys)
    return res


# ----------------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------------


SPLIT_RULE = "sha256(id)[0] < 0x4D: validation"  # tests/accuracy.cpp kSplitRule


def split_of(rid):
    """Validation if the first byte of sha256(id) < 0x4D (77/256 ≈ 30%), else calibration. The same rule is
    implemented in tests/accuracy.cpp, which checks this field."""
    return "validation" if hashlib.sha256(rid.encode()).digest()[0] < 0x4D else "calibration"


def harness_commit():
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "tools/measure"],
                               capture_output=True, text=True).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


WHY_NOT = {
    "family": "family not supported by the estimator yet",
    "seq2seq": "encoder-decoder (T5): parameters are modelled, activations of the two stacks are not yet "
               "(estimates are refused; FINDINGS.md §34)",
    # T5 combinations vramcalc still refuses (src/core/encoder_decoder.cpp); fp32 / bf16 eager, relu or gated-gelu,
    # no checkpointing are predicted.
    "seq2seq-amp": "T5's gated FF under autocast is refused: gelu_new's dtypes differ between CPU and CUDA autocast "
                   "and wo's input cast is not derived for it (FINDINGS.md §34)",
    "seq2seq-sdpa": "T5 with SDPA is refused: the position bias is a float mask needing a gradient, the CPU runs the math "
                    "path (measured), CUDA the memory-efficient kernel with a bias gradient (not measured) (FINDINGS.md §34)",
    "seq2seq-ckpt": "T5 with selective checkpointing, every K-th block, or full checkpointing under autocast is refused "
                    "(FINDINGS.md §34)",
    "lora": "LoRA training is not expressed by the estimator's measured-record inputs yet (kind lora)",
    "compile": "torch.compile (inductor) changes what is saved (min-cut partitioner); the estimator models eager "
               "execution only",
    "fsdp2": "FSDP2 fully_shard per-rank memory is not modelled by the estimator yet",
    "fsdp1": "FSDP1 FullyShardedDataParallel per-rank memory is not modelled by the estimator yet",
    "adamw-forloop": "the estimator has no for-loop (foreach=False) AdamW option",
    "ao-step": "torchao's step ran eagerly (dynamo refuses the tracker's dispatch mode): its temporaries are not "
               "those of the torch.compile'd step the estimator models",
    "fp8-amp-cpu": "CPU autocast: torchao's Float8Linear.forward casts its input only when torch.is_autocast_enabled() (CUDA "
                   "autocast), so on the CPU the fp32 input is saved where CUDA saves its bf16 cast (the estimator models "
                   "CUDA; FINDINGS.md §37)",
    "fp8-nohead": "the lm_head kept high precision (torchtitan filter_fqns) is not an estimator input: --fp8 converts "
                  "every Linear whose dims are multiples of 16, lm_head included",
    "mla-sdpa-cpu": "MLA's v head dim differs from the q/k head dim, so CPU SDPA runs the math kernel (fp32 scaled q/k, "
                    "probabilities); on CUDA the mem-efficient kernel runs, which the estimator models (FINDINGS.md §22)",
}

# harness optimizer -> (estimator optimizer, optimizer_in_backward)
OPTIMIZER_SETUP = {"adamw-forloop": ("adamw", False), "adamw-inbwd": ("adamw", True),
                   "adamw-fused-inbwd": ("adamw-fused", True)}


def records_for(res, env):
    sp = res["spec"]
    rid = run_id(sp)
    setup = {"seq": sp["seq"], "batch": sp["batch"], "grad_accum": 1, "precision": sp["precision"],
             "optimizer": OPTIMIZER_SETUP.get(sp["optimizer"], (sp["optimizer"], False))[0],
             "attention": sp["attention"], "grad_ckpt": sp["ckpt"], "loss": "full"}
    in_bwd = OPTIMIZER_SETUP.get(sp["optimizer"], (None, False))[1]
    if in_bwd:
        setup["optimizer_in_backward"] = True
    if sp["mask"] != "none":
        setup["mask"] = "explicit"
    if sp.get("head"):  # encoders: the model's head (vramcalc --head, --num-labels)
        setup["head"] = sp["head"]
        if sp["head"] == "seq-cls":
            setup["num_labels"] = sp["num_labels"]
    extra_setup = {"mask_kind": sp["mask"], "optimizer_impl": sp["optimizer"], "layers": sp["layers"]}
    if sp.get("target_seq"):  # T5: the decoder's length (vramcalc has no option for it yet)
        setup["target_seq"] = sp["target_seq"]
    if sp.get("fp8"):  # torchao float8 training (vramcalc --fp8)
        setup["fp8"] = sp["fp8"]
        extra_setup["fp8_lm_head"] = sp.get("fp8_head", True)
        extra_setup["fp8_converted"] = res.get("fp8_converted")
    why = None
    if sp["kind"] in ("lora", "compile", "fsdp2", "fsdp1"):
        why = WHY_NOT[sp["kind"]]
    elif sp["family"] in SEQ2SEQ and sp["precision"] == "amp" and sp.get("ff", "relu") != "relu":
        why = WHY_NOT["seq2seq-amp"]
    elif sp["family"] in SEQ2SEQ and sp["attention"] != "eager":
        why = WHY_NOT["seq2seq-sdpa"]
    elif sp["family"] in SEQ2SEQ and sp["ckpt"] not in ("none", "full") or \
            (sp["family"] in SEQ2SEQ and sp["ckpt"] == "full" and sp["precision"] == "amp"):
        why = WHY_NOT["seq2seq-ckpt"]
    elif sp["family"] not in SUPPORTED + MOE + DENSE + GPT_OSS + DEEPSEEK + ENCODERS:
        why = WHY_NOT["family"]
    elif sp["optimizer"] == "adamw-forloop":
        why = WHY_NOT["adamw-forloop"]
    elif sp["family"] in DEEPSEEK and sp["attention"] == "sdpa":
        why = WHY_NOT["mla-sdpa-cpu"]
    elif sp.get("fp8") and not sp.get("fp8_head", True):
        why = WHY_NOT["fp8-nohead"]
    src = f"tools/measure/hf_measure.py (CPU), {env['date']}; versions, harness_commit, host: record fields"
    base = {"kind": sp["kind"] if sp["kind"] != "step" else "step", "model": res["model"], "setup": setup,
            "device": "cpu", "source": src,
            "versions": {"torch": res["torch"], "transformers": res["transformers"], "peft": res["peft"],
                     **{k: res[k] for k in ("bitsandbytes", "torchao") if res.get(k)}},
            "harness_commit": res.get("harness_commit", env["commit"]), "host": env["host"], "wall_s": res["wall_s"],
            "measured_setup": extra_setup}
    if res.get("expert_tokens"):
        extra_setup["expert_tokens"] = res["expert_tokens"]
        extra_setup["experts_implementation"] = res.get("experts_implementation")
    if sp["kind"] == "lora":
        base["lora"] = {"r": sp["lora_r"], "alpha": 2 * sp["lora_r"], "targets": sp["lora_targets"],
                        "dropout": sp["lora_dropout"], "trainable_params": res["n_trainable"]}
        if sp.get("lora_dora"):
            base["lora"]["dora"] = True
    recs = []

    def add(metric, phase, value, tol, notes, detail):
        r = {"id": f"{rid}-{phase}", **base, "metric": metric, "phase": phase, "value_bytes": int(value),
             "tolerance_pct": tol, "notes": notes, "detail": detail}
        if why:
            r["predict"] = False
            r["why_not"] = why
        elif sp.get("fp8") and sp["precision"] == "amp" and metric in ("saved_per_layer", "saved_head"):
            r["predict"] = False
            r["why_not"] = WHY_NOT["fp8-amp-cpu"]
        r["split"] = split_of(r["id"])
        recs.append(r)

    L = sp["layers"]
    mid = 1 if L >= 3 else 0
    sw = res["saved_by_window"]
    if sp["kind"] in ("step", "lora") and sp["ckpt"] == "none":
        per = [sw.get(f"fw.L{i}", {}).get("act", 0) for i in range(L)]
        add("saved_per_layer", "layer", per[mid], 0.0,
            "saved activations of one decoder layer",
            {"per_layer": per, "layer_windows": {f"fw.L{i}": sw.get(f"fw.L{i}") for i in range(L)},
             "saved": [x[:3] + x[4:] for x in res["saved_rows"].get(f"fw.L{mid}", []) if x[3] == "act"][:24]})
    elif sp["kind"] in ("step", "lora"):
        kept = res["act_alive_after_forward_by_window"]
        per = [kept.get(f"fw.L{i}", 0) for i in range(L)]
        add("saved_per_layer", "layer", per[0], 0.0,
            f"grad_ckpt {sp['ckpt']}: activations made in layer 0 alive after the forward",
            {"per_layer_kept": per, "kept_by_window": kept})
    if sp["family"] in SEQ2SEQ and sp["ckpt"] == "none":  # T5: a decoder block (D0 holds the encoder output once)
        per = [sw.get(f"fw.D{i}", {}).get("act", 0) for i in range(L)]
        add("saved_per_layer", "decoder_layer", per[mid], 0.0,
            "saved activations of one decoder block (self-attention, cross-attention, FF)",
            {"per_layer": per, "layer_windows": {f"fw.D{i}": sw.get(f"fw.D{i}") for i in range(L)},
             "outside": {k: v for k, v in sw.items() if k in ("fw.embed", "fw.encoder_norm", "fw.decoder_embed")},
             "saved": [x[:3] + x[4:] for x in res["saved_rows"].get(f"fw.D{mid}", []) if x[3] == "act"][:24]})
    if sp["kind"] in ("step", "lora"):
        hw = {k: v for k, v in sw.items() if k in ("fw.head", "fw.loss")}
        head = sum(v["act"] for v in hw.values())
        add("saved_head", "head", head, 0.0,
            "saved activations of final norm, lm_head and loss",
            {"by_window": hw, "saved": [x[:3] + x[4:] for x in res["saved_rows"].get("fw.head", []) +
                                        res["saved_rows"].get("fw.loss", []) if x[3] == "act"][:12]})
    st0, st1 = res["steps"]
    tol = 3.0
    note = "phase peak of live tensor bytes, second step"
    for ph in ("forward", "backward", "optimizer_step"):
        if in_bwd and ph == "optimizer_step":
            continue  # stepped inside backward: the step() phase is empty
        d = dict(st1[ph])
        d["top_at_peak"] = d["top_at_peak"][:4]
        d["first_step"] = {k: st0[ph][k] for k in ("start", "peak", "end", "peak_op", "peak_window")}
        if res["allocator_check"] and len(res["allocator_check"]) >= 3:
            i = ("forward", "backward", "optimizer_step").index(ph)
            d["allocator_check"] = {"allocator_peak_above_start": res["allocator_check"][i][0],
                                    "tracker_peak_above_start": st1[ph]["peak"] - st1[ph]["start"],
                                    "allocator_end_minus_start": res["allocator_check"][i][1],
                                    "tracker_end_minus_start": st1[ph]["end"] - st1[ph]["start"]}
            if sp.get("fp8"):
                d["allocator_check"]["fp8_note"] = (
                    "the CPU torch._scaled_mm allocates working copies of its fp8 operands inside the kernel (seen by the "
                    "allocator, not by the tracker); CUDA's cuBLASLt fp8 gemm has no such buffers: value_bytes is the tracker's")
        add("allocated", ph, st1[ph]["peak"], tol, note, d)
        if ph == "optimizer_step" and sp["optimizer"].startswith("ao-"):
            recs[-1]["predict"] = False
            recs[-1]["why_not"] = WHY_NOT["ao-step"]
    # load = live bytes after the model is built, before the step's inputs exist (runs made before the load phase
    # moved ahead of the inputs took it after them: their input bytes, known exactly, are left out)
    ld = st0["load"]
    add("allocated", "load", ld["peak"] - ld["at_peak"]["input"], tol, "live tensor bytes after the model is built",
        {"n_params": res["n_params"], "inputs_left_out": ld["at_peak"]["input"]})
    pk_phase = max(("forward", "backward", "optimizer_step"), key=lambda p: st1[p]["peak"])
    pk = st1[pk_phase]["peak"]
    add("allocated", "peak", pk, tol, "largest phase peak of the second step",
        {"peak_phase": pk_phase, "peak_window": st1[pk_phase]["peak_window"], "first_step_peak": max(st0[p]["peak"] for p in ("forward", "backward", "optimizer_step")),
         "state_bytes": res["state_bytes"], "loss": [st0["loss"], st1["loss"]]})
    if in_bwd and pk_phase == "optimizer_step" or sp["optimizer"].startswith("ao-") and pk_phase == "optimizer_step":
        recs[-1]["predict"] = False
        recs[-1]["why_not"] = WHY_NOT["ao-step"]
    if sp["optimizer"] in ("adamw-8bit", "ao-adamw-8bit", "ao-adamw-4bit"):
        add("optimizer_states", "states", res["state_bytes"] - res.get("step_counter_bytes", 0), 0.0,
            "bytes of the optimizer's state tensors after two steps (torchao subclasses: codes, scale, qmap), "
            "without the 0-dim step counters (torchao creates them on the host: torch.tensor(0.0))",
            {"state_bytes": res["state_bytes"], "step_counter_bytes": res.get("step_counter_bytes", 0)})
    return recs


def alloc_records_for(res, env):
    """Records of the allocator-measured kinds (compile, fsdp2), see alloc_measure.py."""
    sp = res["spec"]
    rid = run_id(sp)
    setup = {"seq": sp["seq"], "batch": sp["batch"], "grad_accum": 1, "precision": sp["precision"],
             "optimizer": sp["optimizer"], "attention": sp["attention"], "grad_ckpt": sp["ckpt"], "loss": "full"}
    src = (f"tools/measure/hf_measure.py + alloc_measure.py @ {env['commit']} on {env['host']} (CPU), torch "
           f"{res['torch']}, transformers {res['transformers']}, peft {res['peft']}, {env['date']}")
    base = {"kind": sp["kind"], "model": res["model"], "setup": setup, "device": "cpu", "source": src,
            "versions": {"torch": res["torch"], "transformers": res["transformers"], "peft": res["peft"],
                     **{k: res[k] for k in ("bitsandbytes", "torchao") if res.get(k)}},
            "harness_commit": res.get("harness_commit", env["commit"]), "host": env["host"], "wall_s": res["wall_s"],
            "predict": False,
            "why_not": WHY_NOT[sp["kind"]], "tolerance_pct": 3.0}
    recs = []

    def add(suffix, metric, phase, value, notes, detail):
        r = {"id": f"{rid}-{suffix}", **base, "metric": metric, "phase": phase, "value_bytes": int(value),
             "notes": notes, "detail": detail}
        r["split"] = split_of(r["id"])
        recs.append(r)

    if sp["kind"] == "compile":
        base["compile"] = {"backend": "inductor", "mode": "default", "scope": sp.get("compile_scope", "model")}
        base["predict"] = True  # modelled: src/core/ops_compiled.cpp (FINDINGS.md "torch.compile")
        base.pop("why_not", None)
        add("saved", "saved_total", "forward", res["saved_total"],
            "Bytes the compiled forward saves for backward (AOTAutograd partitioner's choice; saved_tensors_hooks on "
            "the compiled autograd.Function, each storage once, parameters left out), whole model incl. head.",
            {"saved_rows": res["saved_rows"], "partition": res.get("partition")})
        for ph in ("forward", "backward", "optimizer_step"):
            st, pk, en = res["phases"][ph]
            add(ph, "allocated", ph, pk, "Peak bytes allocated by the c10 CPU allocator in the phase (profiler "
                "memory events from before the model was built), second step.", {"start": st, "end": en})
    else:
        base["fsdp2"] = {"world": sp["world"], "reshard_after_forward": sp["reshard"],
                         "mixed_precision": sp["mp"], "backend": "gloo", "wrap": "each decoder layer + root"}
        if sp["kind"] == "fsdp1":
            base["fsdp1"] = {**base.pop("fsdp2"), "limit_all_gathers": True, "use_orig_params": False,
                             "sharding_strategy": "FULL_SHARD" if sp["reshard"] else "SHARD_GRAD_OP"}
        if sp.get("replicate", 1) > 1:
            base["fsdp2"]["replicate"] = sp["replicate"]
        if sp.get("fp8"):  # torchao float8 (vramcalc --fp8), the FSDP2 float8 all-gather (--fp8-all-gather)
            base["setup"]["fp8"] = sp["fp8"]
            if "fsdp2" in base:
                base["fsdp2"]["fp8_all_gather"] = bool(sp.get("fp8_all_gather"))
        base["setup"]["gpus"] = sp["world"]
        for r, rk in enumerate(res["ranks"]):
            clean = rk.get("leak_check", {}).get("clean", False)
            base["predict"] = clean  # FSDP2/1 are modelled (src/core/layout/fsdp2.cpp, fsdp1.cpp); a rank with a lost free is not
            base.pop("why_not", None)
            if not clean:
                base["why_not"] = ("a free on gloo's worker thread was not seen by the profiler (detail.leak_check): "
                                   "the rank's bytes are too high")
            for ph in ("forward", "backward", "optimizer_step"):
                st, pk, en = rk["phases"][ph]
                detail = {"start": st, "end": en, "rank": r, "local_param_bytes": rk["local_param_bytes"],
                          "leak_check": rk.get("leak_check")}
                cuda_like = ""
                if "phases_allocator_raw" in rk:  # fp8 runs (alloc_measure.allocator_trace_cuda_like)
                    detail["allocator_raw_peak"] = rk["phases_allocator_raw"][ph][1]
                    cuda_like = (" Without the CPU-only buffers CUDA does not make: oneDNN's working copies inside "
                                 "torch._scaled_mm and gloo's copy of the reduce-scatter input (FINDINGS.md §38; the "
                                 "raw allocator peak in detail.allocator_raw_peak).")
                add(f"rank{r}-{ph}", "allocated", ph, pk, f"Rank {r}: peak bytes allocated by the c10 CPU allocator "
                    "in the phase (profiler memory events from before the model was built), second step." + cuda_like,
                    detail)
    return recs


# ----------------------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------------------


def child(sp_json, out_path):
    sp = json.loads(sp_json)
    try:
        if sp["kind"] in ("fsdp2", "fsdp1"):
            import alloc_measure
            res = alloc_measure.run_fsdp2(sp)
        elif sp["kind"] == "compile":
            import alloc_measure
            res = alloc_measure.run_compile(sp)
        else:
            res = measure(sp)
        res["status"] = "ok"
        res["harness_commit"] = harness_commit()  # the code this run was measured with
    except Exception as e:
        res = {"spec": sp, "status": "error", "error": f"{type(e).__name__}: {e}"[:2000],
               "traceback": traceback.format_exc()[-4000:]}
    with open(out_path, "w") as f:
        json.dump(res, f, default=str)


ABOUT = (
    "Memory of real transformers training steps on the CPU, measured by tools/measure/hf_measure.py "
    "(AutoModelForCausalLM.from_config, random weights, use_cache False; torch / transformers / peft versions in "
    "each record). saved_per_layer / saved_head: bytes autograd saves (saved_tensors_hooks, each storage counted "
    "once, activations only; with grad_ckpt full/selective: activation bytes made in layer 0's forward that are "
    "alive after the forward). allocated: peak bytes of live tensor storages per phase of the second training "
    "step (TorchDispatchMode tracker over every aten op, storages counted once, cross-checked against the "
    "profiler's allocator events in detail.allocator_check): forward = model(input_ids, labels) incl. the loss, "
    "inside autocast for amp; backward = loss.backward(); optimizer_step = step() + zero_grad(set_to_none=True); "
    "load = after the model is built, before the inputs exist. precision fp32; bf16 (module bf16); amp (fp32 weights, "
    "torch.autocast('cpu', bfloat16)). Checkpointing: transformers' gradient_checkpointing_enable(use_reentrant="
    "False); selective = the family's eager attention function wrapped in a non-reentrant checkpoint. split: "
    "sha256(id) first byte < 0x4D is validation (never used to tune). Records with known_gap miss the estimator "
    "beyond tolerance and are explained in tools/measure/FINDINGS.md."
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/measured/hf_cpu.json"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--match", default=None, help="regular expression on the run id")
    ap.add_argument("--kind", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--raw", default=None, help="directory for the raw per-run results (default OUT.raw/)")
    ap.add_argument("--write-only", action="store_true", help="write records from the raw results; run nothing")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--fp8", choices=("tensorwise", "rowwise"), default=None,
                    help="run the selected step runs with torchao float8 training of this recipe (run ids get -fp8RECIPE)")
    a = ap.parse_args(argv)
    if a.child:
        child(*a.child)
        return 0
    g = grid(a.quick)
    if a.kind:
        g = [sp for sp in g if sp["kind"] in a.kind]
    g = [sp for sp in g if all(o in run_id(sp) for o in a.only) and not any(o in run_id(sp) for o in a.skip)]
    if a.match:
        import re
        g = [sp for sp in g if re.search(a.match, run_id(sp))]
    if a.fp8:  # torchao float8 variants of the selected step runs (grid block (p) has the recorded ones)
        g = [dict(sp, fp8=a.fp8) for sp in g if sp["kind"] == "step"]
    if a.list:
        for sp in g:
            print(run_id(sp))
        print(f"{len(g)} runs", file=sys.stderr)
        return 0
    raw = a.raw or a.out + ".raw"
    os.makedirs(raw, exist_ok=True)
    env = {"commit": harness_commit(), "host": socket.gethostname(), "date": time.strftime("%Y-%m-%d"),
           "python": platform.python_version()}
    envv = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
                PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    todo = []
    for sp in ([] if a.write_only else g):
        path = os.path.join(raw, run_id(sp) + ".json")
        if os.path.exists(path):
            with open(path) as f:
                if json.load(f).get("status") == "ok":
                    continue
        todo.append((sp, path))
    running = []
    t0 = time.time()
    while todo or running:
        while todo and len(running) < a.jobs:
            sp, path = todo.pop(0)
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", json.dumps(sp), path],
                                 env=envv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running.append((p, sp, path, time.time()))
        time.sleep(0.2)
        for item in list(running):
            p, sp, path, ts = item
            if p.poll() is None:
                continue
            running.remove(item)
            err = p.stderr.read().decode(errors="replace")[-1500:]
            ok = os.path.exists(path) and json.load(open(path)).get("status") == "ok"
            print(f"[{time.time() - t0:7.1f}s] {'ok ' if ok else 'ERR'} {run_id(sp)} ({time.time() - ts:.1f}s)",
                  flush=True)
            if not ok:
                if os.path.exists(path):
                    print("   ", json.load(open(path)).get("error"), flush=True)
                else:
                    print("   ", err, flush=True)
    write_records(g, raw, a.out, env)
    return 0


def dump(doc, path):
    """One record per line, compact (the file stays small and diffs stay readable)."""
    with open(path, "w") as f:
        f.write("{\n")
        for k, v in doc.items():
            if k != "records":
                f.write(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n")
        f.write(' "records": [\n')
        recs = doc["records"]
        for i, r in enumerate(recs):
            f.write("  " + json.dumps(r, separators=(",", ":"), ensure_ascii=False) + (",\n" if i + 1 < len(recs) else "\n"))
        f.write(" ]\n}\n")


def write_records(g, raw, out, env):
    recs, failed = [], []
    for sp in g:
        path = os.path.join(raw, run_id(sp) + ".json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            res = json.load(f)
        if res.get("status") != "ok":
            failed.append({"id": run_id(sp), "error": res.get("error")})
            continue
        if sp["kind"] in ("fsdp2", "fsdp1", "compile"):
            recs += alloc_records_for(res, env)
        else:
            recs += records_for(res, env)
    doc = {"about": ABOUT, "split_rule": SPLIT_RULE, "records": recs}
    if failed:
        doc["failed_runs"] = failed
    dump(doc, out)
    print(f"wrote {len(recs)} records ({len(failed)} failed runs) to {out}")


if __name__ == "__main__":
    sys.exit(main())
