"""Runs that the dispatch-mode tracker of hf_measure.py cannot see, measured through the c10 CPU allocator instead
(torch.profiler memory events, profile_memory=True, from before the model is built, so the running sum of the
events is the absolute bytes allocated by torch):

* kind "compile": torch.compile(model, backend="inductor") on the CPU. Inductor's generated code allocates its
  buffers without dispatching aten ops through Python, so a TorchDispatchMode misses them; the allocator sees all.
  The saved-for-backward set is what AOTAutograd's min-cut partitioner chose (decided before the backend runs);
  it is read with saved_tensors_hooks on the compiled autograd.Function (each storage once, parameters left out).
* kind "fsdp2": torch.distributed.fsdp.fully_shard on each decoder layer and the root, gloo backend, world 2 or 4
  processes on the CPU; per-rank phase peaks; reshard_after_forward on/off; MixedPrecisionPolicy(param_dtype=bf16,
  reduce_dtype=fp32) or none.

Phases: forward (model(input_ids, labels) incl. the loss), backward, optimizer_step (+ zero_grad), second step
measured (the first compiles / creates optimizer states). Marker allocations of distinctive sizes delimit phases.
"""
import contextlib
import os
import time

MARK = {"forward": 7777701, "backward": 7777703, "optimizer_step": 7777705, "end": 7777707}


def _marker(torch, n):
    m = torch.empty(n, dtype=torch.uint8)
    del m


def allocator_trace(prof):
    """[start, peak, end] absolute allocated bytes (relative to the profiler start) per marked phase."""
    events = [e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    inv = {v: k for k, v in MARK.items()}
    cur, phase, out = 0, None, {}
    skip = set(MARK.values()) | {-v for v in MARK.values()}
    for n in events:
        if n in inv:
            if phase is not None:
                out[phase][2] = cur
            phase = inv[n] if inv[n] != "end" else None
            if phase is not None:
                out[phase] = [cur, cur, cur]
            continue
        if n in skip:
            continue
        cur += n
        if phase is not None and cur > out[phase][1]:
            out[phase][1] = cur
    return out


def _build(sp, torch):
    from transformers import AutoConfig, AutoModelForCausalLM
    import hf_measure as hm
    cfgd = hm.model_cfg(sp["family"], vocab=sp["vocab"], layers=sp["layers"], **hm.SHAPES[sp["shape"]])
    cfg = AutoConfig.for_model(**cfgd)
    cfg.use_cache = False
    wdtype = torch.bfloat16 if sp["precision"] == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation=sp["attention"], dtype=wdtype)
    model.train()
    return cfgd, model


def _steps(torch, model, opt, ids, labels, amp, prof_steps, saved=None):
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    losses = []
    for step in range(2):
        if step == 1:
            _marker(torch, MARK["forward"])
        hooks = torch.autograd.graph.saved_tensors_hooks(*saved) if (saved and step == 1) else contextlib.nullcontext()
        with hooks, ac():
            out = model(input_ids=ids, labels=labels, use_cache=False)
            loss = out.loss
            del out
        if step == 1:
            _marker(torch, MARK["backward"])
        loss.backward()
        losses.append(float(loss.detach().float()))
        del loss
        if step == 1:
            _marker(torch, MARK["optimizer_step"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step == 1:
            _marker(torch, MARK["end"])
    return losses


def run_compile(sp):
    import torch
    import transformers
    from torch.profiler import profile, ProfilerActivity
    torch.manual_seed(0)
    t0 = time.time()
    res = {"spec": sp, "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft
        res["peft"] = peft.__version__
    except Exception:
        res["peft"] = None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        cfgd, model = _build(sp, torch)
        params = list(model.parameters())
        pkeys = {p.untyped_storage()._cdata for p in params}
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, sp["vocab"], (sp["batch"], sp["seq"]), generator=g)
        labels = ids.clone()
        opt = torch.optim.AdamW(params, lr=1e-4, foreach=True)
        cmodel = torch.compile(model, backend="inductor")
        seen = {}

        def pack(t):
            s = t.untyped_storage()
            if s._cdata not in pkeys and s._cdata not in seen:
                seen[s._cdata] = [s.nbytes(), str(t.dtype).replace("torch.", ""), list(t.shape)]
            return t

        losses = _steps(torch, cmodel, opt, ids, labels, sp["precision"] == "amp", True, saved=(pack, lambda t: t))
    tr = allocator_trace(prof)
    res["model"] = cfgd
    res["phases"] = tr
    res["saved_total"] = sum(v[0] for v in seen.values())
    res["saved_rows"] = sorted(seen.values(), key=lambda r: -r[0])[:40]
    res["losses"] = losses
    res["param_bytes"] = sum(p.numel() * p.element_size() for p in params)
    res["wall_s"] = round(time.time() - t0, 2)
    return res


def _fsdp_worker(rank, world, sp, port, outdir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import json
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard, MixedPrecisionPolicy
    from torch.profiler import profile, ProfilerActivity
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    res = {}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        cfgd, model = _build(sp, torch)
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if sp["mp"] == "bf16" \
            else MixedPrecisionPolicy()
        for layer in model.model.layers:
            fully_shard(layer, reshard_after_forward=sp["reshard"], mp_policy=mp)
        fully_shard(model, reshard_after_forward=sp["reshard"], mp_policy=mp)
        _marker(torch, MARK["end"])  # closes nothing; separates the build from the steps
        g = torch.Generator().manual_seed(1 + rank)
        ids = torch.randint(0, sp["vocab"], (sp["batch"], sp["seq"]), generator=g)
        labels = ids.clone()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        losses = _steps(torch, model, opt, ids, labels, False, True)
    res["phases"] = allocator_trace(prof)
    res["losses"] = losses
    res["local_param_bytes"] = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
    res["model"] = cfgd
    with open(os.path.join(outdir, f"rank{rank}.json"), "w") as f:
        json.dump(res, f)
    dist.destroy_process_group()


def run_fsdp2(sp):
    import json
    import random
    import tempfile
    import torch
    import torch.multiprocessing as mp
    import transformers
    t0 = time.time()
    world = sp["world"]
    port = random.randint(20000, 40000)
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_fsdp_worker, args=(world, sp, port, d), nprocs=world, join=True)
        ranks = [json.load(open(os.path.join(d, f"rank{r}.json"))) for r in range(world)]
    import peft
    return {"spec": sp, "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "model": ranks[0]["model"], "ranks": ranks, "wall_s": round(time.time() - t0, 2)}
