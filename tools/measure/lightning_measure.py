"""Lightning's FSDPStrategy measured on the CPU (kind "fsdp1", records "hf-lightning-fsdp1-..."): what
`Trainer(strategy="fsdp", precision=P)` hands to torch's FullyShardedDataParallel, taken from Lightning's own objects
(lightning 2.6.5: FSDPStrategy()._fsdp_kwargs -- use_orig_params=True, no auto_wrap_policy --, its sharding_strategy
FULL_SHARD, cpu_offload None and FSDPPrecision(P).mixed_precision_config), with device_id=torch.device("cpu") as the
one substitution (2.6.5 passes root_device.index, None on the CPU, which torch >= 2.5 rejects; Lightning master passes
the CPU device, strategies/fsdp.py setup_module). The forward runs under FSDPPrecision.forward_context() (autocast on
"cuda": no effect on CPU tensors). gloo, 2 processes, per-rank phase peaks of the c10 CPU allocator as alloc_measure.py.

    python tools/measure/lightning_measure.py --precision bf16-mixed --out /tmp/lt.json
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alloc_measure as am  # noqa: E402
import dist_worker as dw  # noqa: E402
import hf_measure as hm  # noqa: E402


def _worker(rank, world, sp, port, outdir):
    torch, dist = dw.join_group(rank, world, port)
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.profiler import profile, ProfilerActivity
    from lightning.fabric.strategies import FSDPStrategy
    from lightning.fabric.plugins.precision.fsdp import FSDPPrecision
    precision = FSDPPrecision(sp["lightning_precision"])
    strategy = FSDPStrategy(precision=precision)
    res = {"fsdp_kwargs": {k: repr(v) for k, v in strategy._fsdp_kwargs.items()},
           "mixed_precision": repr(strategy.mixed_precision_config), "sharding_strategy": repr(strategy.sharding_strategy)}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        cfgd, model = am._build(sp, torch)
        model = precision.convert_module(model)
        model = FSDP(module=model, cpu_offload=strategy.cpu_offload, mixed_precision=strategy.mixed_precision_config,
                     sharding_strategy=strategy.sharding_strategy, device_id=torch.device("cpu"), **strategy._fsdp_kwargs)
        am._marker(torch, am.MARK["end"])
        ids = dw.rank_ids(torch, sp, rank)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        losses = _steps(torch, model, opt, ids, precision)
    res["phases"] = am.allocator_trace(prof)
    res["losses"] = losses
    res["local_param_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    res["state_bytes"] = dw.state_of(model, opt)
    res["model"] = cfgd
    dw.finish(dist, res, outdir, rank)


def _steps(torch, model, opt, ids, precision):
    losses = []
    for step in range(2):
        if step == 1:
            am._marker(torch, am.MARK["forward"])
        with precision.forward_context():
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        if step == 1:
            am._marker(torch, am.MARK["backward"])
        loss.backward()
        losses.append(float(loss.detach().float()))
        del loss
        if step == 1:
            am._marker(torch, am.MARK["optimizer_step"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step == 1:
            am._marker(torch, am.MARK["end"])
    return losses


def run(sp):
    import torch
    t0 = time.time()
    port = random.randint(20000, 40000)
    # use_orig_params=True: the FlatParameter's sharded fp32 gradient survives zero_grad(set_to_none=True) (only the
    # original parameters' .grad views are dropped) until the next forward's pre-forward resets it
    # (_flat_param.py FlatParamHandle._reset_flat_param_grad_info_if_needed): one local shard beyond the state.
    ranks, lost, tries = dw.spawn_ranks(_worker, sp, sp["world"], port, am.LEAK_TRIES, am.LEAK_SLACK,
                                        lambda rk: am._lost_frees(rk) - rk["local_param_bytes"])
    for rk, lo in zip(ranks, lost):
        rk["leak_check"] = {"state_bytes": rk["state_bytes"], "beyond_state": lo + rk["local_param_bytes"],
                            "beyond_state_less_flat_grad": lo, "tries": tries, "clean": lo <= am.LEAK_SLACK}
    return {"spec": sp, "ranks": ranks, "wall_s": round(time.time() - t0, 2), "torch": torch.__version__}


def records(res):
    import lightning
    import transformers
    sp = res["spec"]
    env = {"commit": hm.harness_commit(), "date": time.strftime("%Y-%m-%d")}
    m = res["ranks"][0]["model"]
    rid = (f"hf-lightning-fsdp1-llama-h{m['hidden_size']}-L{m['num_hidden_layers']}-v{m['vocab_size'] // 1024}k-"
           f"{sp['lightning_precision']}-s{sp['seq']}-b{sp['batch']}-w{sp['world']}")
    versions = {"torch": res["torch"], "transformers": transformers.__version__, "lightning": lightning.__version__}
    base = {"kind": "fsdp1", "model": m,
            "setup": {"recipe": "lightning", "seq": sp["seq"], "batch": sp["batch"], "grad_accum": 1, "optimizer": "adamw",
                      "attention": sp["attention"], "loss": "full", "gpus": sp["world"]},
            "device": "cpu",
            "source": (f"tools/measure/lightning_measure.py @ {env['commit']} (CPU), torch {res['torch']}, transformers "
                       f"{versions['transformers']}, lightning {versions['lightning']}, {env['date']}"),
            "versions": versions, "harness_commit": env["commit"], "host": "vm", "wall_s": res["wall_s"], "tolerance_pct": 3.0,
            "fsdp1": {"world": sp["world"], "reshard_after_forward": True, "mixed_precision": "bf16-bf16", "backend": "gloo",
                      "wrap": "root only (no auto_wrap_policy)", "limit_all_gathers": True, "use_orig_params": True,
                      "sharding_strategy": "FULL_SHARD", "lightning": {k: res["ranks"][0][k] for k in
                                                                      ("fsdp_kwargs", "mixed_precision", "sharding_strategy")}}}
    out = []
    for r, rk in enumerate(res["ranks"]):
        clean = rk["leak_check"]["clean"]
        for ph in ("forward", "backward", "optimizer_step"):
            st, pk, en = rk["phases"][ph]
            rec = {"id": f"{rid}-rank{r}-{ph}", **base, "predict": clean, "metric": "allocated", "phase": ph, "value_bytes": int(pk),
                   "notes": f"Rank {r}: peak bytes allocated by the c10 CPU allocator in the phase (profiler memory events from "
                            "before the model was built), second step; Lightning's FSDPStrategy kwargs and FSDPPrecision.",
                   "detail": {"start": st, "end": en, "rank": r, "local_param_bytes": rk["local_param_bytes"],
                              "leak_check": rk["leak_check"], "losses": rk["losses"]}}
            if not clean:
                rec["why_not"] = "a free on gloo's worker thread was not seen by the profiler (detail.leak_check)"
            rec["split"] = hm.split_of(rec["id"])
            out.append(rec)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default="bf16-mixed")
    ap.add_argument("--shape", default="h128", choices=("h128", "h64"))
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sp = hm.spec("llama", seq=a.seq, precision="fp32", attention="sdpa", kind="fsdp1", layers=a.layers, shape=a.shape,
                 extra={"world": 2, "reshard": True, "mp": "bf16-bf16", "lightning_precision": a.precision})
    res = run(sp)
    with open(a.out, "w") as f:
        for rec in records(res):
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
