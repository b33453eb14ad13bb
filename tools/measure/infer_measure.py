#!/usr/bin/env python3
"""Inference memory on the CPU: the live tensor bytes of a transformers model's prefill and decode steps with a
DynamicCache, as generate() runs them (use_cache=True; the prefill asks for logits_to_keep=1 and copies the last
logits to fp32; each decode step feeds one token). Writes records for vramcalc --infer.

  .venv-measure/bin/python tools/measure/infer_measure.py --out tests/data/measured/hf_cpu_infer.json

Per run (a fresh process): model built (load = live bytes after it), prefill of `seq` tokens (prefill phase peak),
then a second prefill of `seq - steps` tokens followed by `steps` decode steps, so that the cache ends at `seq`
tokens (decode phase peak: the largest step), and the bytes of the cache's tensors at the end (kv_cache).
The tracker is hf_measure.py's: every aten op's output storages, followed by weak references, counted once.
"""
import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPLIT_RULE = "sha256(id)[0] < 0x4D: validation"
STEPS = 4


def split_of(rid):
    return "validation" if hashlib.sha256(rid.encode()).digest()[0] < 0x4D else "calibration"


def grid():
    g = []
    for prec in ("fp32", "bf16"):
        for attn in ("sdpa", "eager"):
            g.append({"seq": 256, "batch": 2, "precision": prec, "attention": attn, "shape": "h128"})
        g.append({"seq": 1024, "batch": 1, "precision": prec, "attention": "sdpa", "shape": "h64"})
    return g


SHAPES = {"h128": dict(hidden_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                       intermediate_size=320, num_hidden_layers=3),
          "h64": dict(hidden_size=64, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                      intermediate_size=192, num_hidden_layers=2)}


def run_id(sp):
    return f"hf-infer-llama-{sp['shape']}-{sp['precision']}-{sp['attention']}-s{sp['seq']}-b{sp['batch']}"


def measure(sp):
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM
    US = torch.UntypedStorage

    class Tracker(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.st, self.live, self.peak = {}, 0, 0

        def track(self, t):
            if type(t) is not torch.Tensor and not isinstance(t, torch.nn.Parameter):
                return
            s = t.untyped_storage()
            k, n = s._cdata, s.nbytes()
            if k in self.st or n == 0:
                return
            self.st[k] = [s._weak_ref(), n]
            self.live += n

        def sweep(self):
            for k in [k for k, e in self.st.items() if US._expired(e[0])]:
                w, n = self.st.pop(k)
                US._free_weak_ref(w)
                self.live -= n

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.track(t)
            if self.live > self.peak:
                self.sweep()
                self.peak = max(self.peak, self.live)
            return out

        def begin(self):
            self.sweep()
            self.peak = self.live
            return self.live

    torch.manual_seed(0)
    dtype = torch.bfloat16 if sp["precision"] == "bf16" else torch.float32
    cfg = AutoConfig.for_model("llama", vocab_size=4096, max_position_embeddings=4096, **SHAPES[sp["shape"]])
    res = {"spec": sp, "torch": torch.__version__, "transformers": transformers.__version__}
    tr = Tracker()
    with torch.no_grad(), tr:
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation=sp["attention"], dtype=dtype).eval()
        res["load"] = tr.begin()
        b, s = sp["batch"], sp["seq"]
        ids = torch.randint(0, 4096, (b, s), generator=torch.Generator().manual_seed(1))
        start = tr.begin()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        last = out.logits[:, -1, :].to(copy=True, dtype=torch.float32)
        res["prefill"] = {"start": start, "peak": tr.peak}
        del out, last
        # prompt of s - STEPS tokens, then STEPS decode steps: the cache ends at s tokens
        out = model(input_ids=ids[:, : s - STEPS], use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        nxt = out.logits[:, -1, :].to(copy=True, dtype=torch.float32).argmax(-1, keepdim=True)
        del out
        start = tr.begin()
        for _ in range(STEPS):
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            nxt = out.logits[:, -1, :].to(copy=True, dtype=torch.float32).argmax(-1, keepdim=True)
            del out
        res["decode"] = {"start": start, "peak": tr.peak}
        kv = 0
        for layer in cache.layers:
            kv += layer.keys.untyped_storage().nbytes() + layer.values.untyped_storage().nbytes()
        res["kv_cache"] = kv
        res["cache_tokens"] = int(cache.get_seq_length())
    return res


def records(res, env):
    sp = res["spec"]
    rid = run_id(sp)
    model = {"model_type": "llama", "vocab_size": 4096, "max_position_embeddings": 4096, **SHAPES[sp["shape"]],
             "tie_word_embeddings": False}
    setup = {"seq": sp["seq"], "batch": sp["batch"], "precision": sp["precision"], "attention": sp["attention"],
             "infer": True}
    base = {"kind": "infer", "model": model, "setup": setup, "device": "cpu",
            "source": f"tools/measure/infer_measure.py (CPU), {env['date']}",
            "versions": {"torch": res["torch"], "transformers": res["transformers"]},
            "harness_commit": env["commit"], "host": env["host"],
            "measured_setup": {"decode_steps": STEPS, "cache": "DynamicCache", "logits_to_keep": 1}}
    out = []
    for metric, phase, value, tol, note in (
            ("allocated", "load", res["load"], 3.0, "live tensor bytes after the model is built"),
            ("allocated", "prefill", res["prefill"]["peak"], 5.0,
             "peak live bytes of the prefill forward of seq tokens (use_cache, logits_to_keep=1, fp32 copy of the last logits)"),
            ("allocated", "decode", res["decode"]["peak"], 5.0,
             f"peak live bytes over {STEPS} decode steps ending with seq tokens cached"),
            ("kv_cache", "decode", res["kv_cache"], 0.0, "bytes of every layer's key and value tensors with seq tokens cached")):
        r = {"id": f"{rid}-{phase if metric == 'allocated' else 'kv'}", **base, "metric": metric, "phase": phase,
             "value_bytes": int(value), "tolerance_pct": tol, "notes": note,
             "detail": {k: res[k] for k in ("prefill", "decode", "cache_tokens")}}
        r["split"] = split_of(r["id"])
        out.append(r)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/measured/hf_cpu_infer.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(json.loads(a.child))))
        return 0
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "tools/measure"], capture_output=True,
                           text=True).stdout.strip()
    env = {"commit": commit + ("+dirty" if dirty else ""), "host": socket.gethostname(), "date": time.strftime("%Y-%m-%d")}
    recs = []
    envv = dict(os.environ, OMP_NUM_THREADS="1")
    for sp in grid():
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(sp)], capture_output=True,
                           text=True, env=envv)
        if p.returncode != 0:
            print("ERR", run_id(sp), p.stderr[-800:], flush=True)
            continue
        res = json.loads(p.stdout.strip().splitlines()[-1])
        print("ok ", run_id(sp), res["load"], res["prefill"]["peak"], res["decode"]["peak"], res["kv_cache"], flush=True)
        recs += records(res, env)
    about = ("Inference memory of a transformers Llama on the CPU (tools/measure/infer_measure.py): live tensor bytes "
             "(TorchDispatchMode over aten ops, storages once) after the build (load), at the peak of a prefill of seq "
             "tokens (use_cache=True, logits_to_keep=1, fp32 copy of the last logits) and of the last of 4 decode steps "
             "ending at seq cached tokens (DynamicCache, torch.cat growth); kv_cache: bytes of the cache's tensors.")
    with open(a.out, "w") as f:
        f.write(json.dumps({"about": about, "split_rule": SPLIT_RULE, "records": recs}, indent=1) + "\n")
    print(f"wrote {len(recs)} records to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
