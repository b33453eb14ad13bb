"""Runs that the dispatch-mode tracker of hf_measure.py cannot see, measured through the c10 CPU allocator instead
(torch.profiler memory events, profile_memory=True, from before the model is built, so the running sum of the
events is the absolute bytes allocated by torch):

* kind "compile": torch.compile(model, backend="inductor") on the CPU. Inductor's generated code allocates its
  buffers without dispatching aten ops through Python, so a TorchDispatchMode misses them; the allocator sees all.
  The saved-for-backward set is what AOTAutograd's min-cut partitioner chose (decided before the backend runs);
  it is read with saved_tensors_hooks on the compiled autograd.Function (each storage once, parameters left out).
* kind "fsdp1": FullyShardedDataParallel (FlatParameter per decoder layer + root), gloo, 2 processes on the CPU.
* kind "fsdp2": torch.distributed.fsdp.fully_shard on each decoder layer and the root, gloo backend, world 2 or 4
  processes on the CPU; per-rank phase peaks; reshard_after_forward on/off; MixedPrecisionPolicy(param_dtype=bf16,
  reduce_dtype=fp32), (bf16, bf16) or none; HSDP (spec "replicate" R > 1): a (R, world/R) device mesh.
  Spec "fp8" (tensorwise | rowwise) converts the Linears with torchao before fully_shard (hf_measure.convert_fp8);
  "fp8_all_gather": True adds enable_fsdp_float8_all_gather (FINDINGS §38). fp8 runs' phases leave out the CPU
  _scaled_mm's internal working copies and gloo's reduce-scatter input copy (allocator_trace_cuda_like; the raw
  peaks in phases_allocator_raw).

Phases: forward (model(input_ids, labels) incl. the loss), backward, optimizer_step (+ zero_grad), second step
measured (the first compiles / creates optimizer states). Marker allocations of distinctive sizes delimit phases.
"""
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dist_worker as dw  # noqa: E402

MARK = {"forward": 7777701, "backward": 7777703, "optimizer_step": 7777705, "end": 7777707}


def _marker(torch, n):
    m = torch.empty(n, dtype=torch.uint8)
    del m


def _phase_sums(sizes):
    """[start, peak, end] running sums of allocation sizes (frees negative) per marked phase: a MARK size opens its
    phase, the marks' frees and None (a dropped event) add nothing."""
    inv = {v: k for k, v in MARK.items()}
    cur, phase, out = 0, None, {}
    for n in sizes:
        if n in inv:
            if phase is not None:
                out[phase][2] = cur
            phase = inv[n] if inv[n] != "end" else None
            if phase is not None:
                out[phase] = [cur, cur, cur]
            continue
        if n is None or -n in inv:
            continue
        cur += n
        if phase is not None and cur > out[phase][1]:
            out[phase][1] = cur
    return out


def allocator_trace(prof):
    """[start, peak, end] absolute allocated bytes (relative to the profiler start) per marked phase."""
    return _phase_sums([e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"])


def allocator_trace_cuda_like(prof):
    """allocator_trace without two CPU-only buffers that have no CUDA counterpart (fp8 fsdp2 runs, FINDINGS.md §38):
    * the CPU torch._scaled_mm's working copies: oneDNN converts the fp8 operands and the fp32 product inside the kernel
      (aten::_scaled_mm > aten::to ...) and frees them before it returns; cuBLASLt's fp8 gemm makes none (§37). An
      allocation made inside a _scaled_mm call and freed inside the same call is dropped with its free; the gemm's
      output (freed later) stays.
    * gloo's copy of the reduce-scatter input (c10d::_reduce_scatter_base_ > aten::clone: ProcessGroupGloo has no
      reduce_scatter_tensor of its own), freed on gloo's worker thread, where the profiler does not see the free when
      that thread lets go last (the leak check's lost frees); NCCL reduce-scatters FSDP2's input in place. Every
      allocation made inside the c10d op is dropped, with its free when one is seen.
    The events come from the profiler's event tree in time order (the same running sum as allocator_trace when
    nothing is dropped)."""
    from torch._C._profiler import _EventType
    events = []

    def walk(node, gemm, gloo):
        if node.tag == _EventType.Allocation:
            f = node.extra_fields
            events.append((node.start_time_ns, len(events), f.ptr, f.alloc_size, gemm, gloo))
            return
        if node.name == "aten::_scaled_mm" and gemm is None:
            gemm = (node.start_time_ns, node.end_time_ns)
        gloo = gloo or node.name == "c10d::_reduce_scatter_base_"
        for c in node.children:
            walk(c, gemm, gloo)

    for root in prof.profiler.kineto_results.experimental_event_tree():
        walk(root, None, False)
    events.sort()
    drop, open_at = set(), {}
    for i, (_, _, ptr, n, gemm, gloo) in enumerate(events):
        if n > 0:
            open_at[ptr] = (i, gemm, gloo)
            if gloo:
                drop.add(i)
        elif ptr in open_at:
            j, g, copy = open_at.pop(ptr)
            if copy or (g is not None and g == gemm):
                drop.update((i, j))
    inv = {v: k for k, v in MARK.items()}
    return _phase_sums([n if n in inv or i not in drop else None for i, (_, _, _, n, _, _) in enumerate(events)])


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


def _partition_probe(torch):
    """Wraps inductor's call of AOTAutograd's min_cut_rematerialization_partition (torch/_inductor/compile_fx.py
    partition_fn) and records, per compiled graph, the forward graph's saved outputs (outputs after the first
    num_fwd_outputs): node name, the op that made it (placeholder = a graph input: parameter, input or a tensor
    made outside the graph), dtype, shape, bytes; and the count of ops the backward graph recomputes (call_function
    nodes of the backward graph that also occur in the joint graph's forward part, by target)."""
    import torch._functorch.config as fconfig
    import torch._inductor.compile_fx as cfx
    # An AOTAutograd cache hit skips the partitioner: turn it off (inductor's FX graph cache, keyed on the
    # partitioned graphs, may stay on)
    fconfig.enable_autograd_cache = False
    orig = cfx.min_cut_rematerialization_partition
    graphs = []

    def rows_of(nodes):
        rows = []
        for n in nodes:
            v = n.meta.get("val")
            if not isinstance(v, torch.Tensor):
                continue
            nb = v.numel() * v.element_size()
            op = "input" if n.op == "placeholder" else str(n.target)
            rows.append([n.name, op, str(v.dtype).replace("torch.", ""), [int(d) for d in v.shape], int(nb)])
        return rows

    def hooked(joint, joint_inputs, *a, **kw):
        fw, bw = orig(joint, joint_inputs, *a, **kw)
        try:
            nfo = kw["num_fwd_outputs"]
            outs = next(n for n in fw.graph.nodes if n.op == "output").args[0]
            saved = rows_of(outs[nfo:])
            fwd_ops = {}
            for n in fw.graph.nodes:
                if n.op == "call_function":
                    fwd_ops[str(n.target)] = fwd_ops.get(str(n.target), 0) + 1
            recomputed = {}
            for n in bw.graph.nodes:
                t = str(n.target)
                if n.op == "call_function" and t in fwd_ops and "mm" not in t:
                    recomputed[t] = recomputed.get(t, 0) + 1
            graphs.append({"saved": saved, "saved_bytes": sum(r[4] for r in saved),
                           "bw_ops_also_in_fw": recomputed})
        except Exception as e:  # the probe never changes the run
            graphs.append({"error": f"{type(e).__name__}: {e}"})
        return fw, bw

    cfx.min_cut_rematerialization_partition = hooked
    return graphs


def _op_sac_policy(torch):
    """torchtitan 9dec370 torchtitan/parallelisms/parallelize_llama.py _apply_ac_to_transformer_block, selective_ac_option
    "op": MUST_SAVE the outputs of the ops in _save_list except every second aten.mm of the block (a running count
    per forward / recompute), PREFER_RECOMPUTE everything else. _save_list names the CUDA SDPA kernels (flash,
    efficient); on the CPU SDPA runs _scaled_dot_product_flash_attention_for_cpu, so it is added as their stand-in."""
    from collections import defaultdict
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts
    ops = torch.ops
    save_list = {ops.aten.mm.default, ops.aten._scaled_dot_product_efficient_attention.default,
                 ops.aten._scaled_dot_product_flash_attention.default,
                 ops.aten._scaled_dot_product_flash_attention_for_cpu.default,  # the CPU stand-in (see above)
                 ops._c10d_functional.reduce_scatter_tensor.default, ops.aten.abs.default, ops.aten.max.default}

    def context_fn():
        meta = defaultdict(int)

        def policy(ctx, func, *args, **kwargs):
            key = f"{'recompute' if ctx.is_recompute else 'forward'}_mm_count"
            if func == ops.aten.mm.default:
                meta[key] += 1
            to_save = func in save_list and not (func == ops.aten.mm.default and meta[key] % 2 == 0)
            return CheckpointPolicy.MUST_SAVE if to_save else CheckpointPolicy.PREFER_RECOMPUTE
        return create_selective_checkpoint_contexts(policy)
    return context_fn


def _apply_op_sac(torch, model):
    """Wraps every decoder block in torch.distributed's checkpoint_wrapper with torchtitan's op-level SAC policy
    (preserve_rng_state=False), as torchtitan 9dec370 apply_ac does before apply_compile."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
    layers = model.model.layers
    for i in range(len(layers)):
        layers[i] = checkpoint_wrapper(layers[i], context_fn=_op_sac_policy(torch), preserve_rng_state=False)


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
        if sp["ckpt"] == "full":
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        elif sp["ckpt"] == "op-sac":
            _apply_op_sac(torch, model)  # before compiling, as torchtitan's parallelize_llama applies AC first
        params = list(model.parameters())
        pkeys = {p.untyped_storage()._cdata for p in params}
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, sp["vocab"], (sp["batch"], sp["seq"]), generator=g)
        labels = ids.clone()
        opt = torch.optim.AdamW(params, lr=1e-4, foreach=True)
        graphs = _partition_probe(torch)
        if sp.get("compile_scope") in ("blocks", "blocks-eager-loss"):
            # torchtune training.compile_model / torchtitan apply_compile: each decoder block compiled on its own
            # (nn.Module.compile; with op-sac the checkpoint wrapper is what is compiled, as torchtitan
            # 9dec370 compiles model.layers' AC-wrapped blocks); embedding, final norm and lm_head stay eager
            for layer in model.model.layers:
                layer.compile(backend="inductor")
            # and the loss compiled on its own (torchtune training.compile_loss, torchtitan "loss" in
            # compile.components): transformers' ForCausalLMLoss (logits.float(), shift, cross_entropy).
            # "blocks-eager-loss": the loss stays eager (torchtitan 9dec370 train.py: "compiling loss function
            # causes CUDA errors, turning off for now")
            if sp["compile_scope"] == "blocks":
                model.loss_function = torch.compile(model.loss_function, backend="inductor")
            cmodel = model
        else:
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
    res["saved_rows"] = sorted(seen.values(), key=lambda r: -r[0])[:200]
    res["partition"] = graphs
    res["losses"] = losses
    res["param_bytes"] = sum(p.numel() * p.element_size() for p in params)
    res["wall_s"] = round(time.time() - t0, 2)
    return res


def _fsdp_worker(rank, world, sp, port, outdir):
    torch, dist = dw.join_group(rank, world, port)
    from torch.distributed.fsdp import fully_shard, MixedPrecisionPolicy
    from torch.profiler import profile, ProfilerActivity
    res = {}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        cfgd, model = _build(sp, torch)
        if sp.get("fp8"):  # torchao float8 before fully_shard, as torchtitan converts then parallelizes
            import hf_measure as hm
            hm.convert_fp8(model, sp)
        mp = {"bf16": MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32),
              # reduce_dtype == param_dtype is clamped to None: the reduce-scatter runs in bf16 over fp32 storage
              "bf16-bf16": MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16)}.get(
                  sp["mp"], MixedPrecisionPolicy())
        kw = {}
        replicate = sp.get("replicate", 1)
        if replicate > 1:  # HSDP: 2-D mesh (replicate, shard), fully_shard shards on the last dim
            from torch.distributed.device_mesh import init_device_mesh
            kw["mesh"] = init_device_mesh("cpu", (replicate, world // replicate), mesh_dim_names=("replicate", "shard"))
        for layer in model.model.layers:
            fully_shard(layer, reshard_after_forward=sp["reshard"], mp_policy=mp, **kw)
        fully_shard(model, reshard_after_forward=sp["reshard"], mp_policy=mp, **kw)
        _marker(torch, MARK["end"])  # closes nothing; separates the build from the steps
        ids = dw.rank_ids(torch, sp, rank)
        labels = ids.clone()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        losses = _steps(torch, model, opt, ids, labels, False, True)
    res["phases"] = allocator_trace(prof)
    if sp.get("fp8"):  # the CUDA-comparable peaks: without oneDNN's _scaled_mm copies and gloo's reduce-scatter copy
        res["phases_allocator_raw"] = res["phases"]
        res["phases"] = allocator_trace_cuda_like(prof)
    res["losses"] = losses
    res["local_param_bytes"] = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
    # What is alive between steps: the parameter shards, the optimizer state, the module buffers.
    tensors = [p.to_local() for p in model.parameters()] + list(model.buffers())
    tensors += [t.to_local() if hasattr(t, "to_local") else t for st in opt.state.values() for t in st.values()
                if isinstance(t, torch.Tensor)]
    # torchao's WeightWithDynamicFloat8CastTensor wraps the shard (fp8 runs): count the wrapped storage
    res["state_bytes"] = dw.storage_bytes([getattr(t, "_tensor", t) for t in tensors])
    res["model"] = cfgd
    dw.finish(dist, res, outdir, rank)


def _fsdp1_worker(rank, world, sp, port, outdir):
    """FSDP1: FullyShardedDataParallel with a FlatParameter per decoder layer (ModuleWrapPolicy) and the root,
    FULL_SHARD (reshard) or SHARD_GRAD_OP, limit_all_gathers=True, use_orig_params=False (its defaults), on the CPU
    (device_id=cpu picks torch.cpu as the device handle, _init_utils.py _init_device_handle)."""
    torch, dist = dw.join_group(rank, world, port)
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from torch.profiler import profile, ProfilerActivity
    res = {}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        cfgd, model = _build(sp, torch)
        if sp.get("fp8"):  # torchao float8 Linears before the wrap, as for fsdp2
            import hf_measure as hm
            hm.convert_fp8(model, sp)
        mp = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if sp["mp"] == "bf16" else None
        strategy = ShardingStrategy.FULL_SHARD if sp["reshard"] else ShardingStrategy.SHARD_GRAD_OP
        model = FSDP(model, auto_wrap_policy=ModuleWrapPolicy({type(model.model.layers[0])}), device_id=torch.device("cpu"),
                     sharding_strategy=strategy, mixed_precision=mp, limit_all_gathers=True, use_orig_params=False)
        _marker(torch, MARK["end"])
        ids = dw.rank_ids(torch, sp, rank)
        labels = ids.clone()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        losses = _steps(torch, model, opt, ids, labels, False, True)
    res["phases"] = allocator_trace(prof)
    if sp.get("fp8"):  # as in _fsdp_worker: without oneDNN's _scaled_mm copies and gloo's reduce-scatter copy
        res["phases_allocator_raw"] = res["phases"]
        res["phases"] = allocator_trace_cuda_like(prof)
    res["losses"] = losses
    res["local_param_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    res["state_bytes"] = dw.state_of(model, opt)
    res["model"] = cfgd
    dw.finish(dist, res, outdir, rank)


# gloo runs each collective on a worker thread that the profiler does not record: when that thread drops the last
# reference to a buffer the main thread allocated (the all-gather output, the reduce-scatter input), the free is never
# seen and the running sum keeps those bytes for the rest of the run, on some ranks, at random (CPU contention decides
# which thread lets go last). A rank whose step does not start and end at its live state (parameter shards, optimizer
# state, buffers) saw such a lost free; the run is repeated until no rank did (at most LEAK_TRIES times).
LEAK_TRIES = 4
LEAK_SLACK = 65536  # bytes the profiler sees besides the state (RNG, process-group scalars); far below any buffer


def _lost_frees(rk):
    st, _, _ = rk["phases"]["forward"]
    _, _, en = rk["phases"]["optimizer_step"]
    return max(st, en) - rk["state_bytes"]


def run_fsdp2(sp):
    import random
    import torch
    import transformers
    t0 = time.time()
    world = sp["world"]
    port = random.randint(20000, 40000)
    worker = _fsdp1_worker if sp["kind"] == "fsdp1" else _fsdp_worker
    ranks, lost, tries = dw.spawn_ranks(worker, sp, world, port, LEAK_TRIES, LEAK_SLACK, _lost_frees)
    for rk, lo in zip(ranks, lost):
        rk["leak_check"] = {"state_bytes": rk["state_bytes"], "beyond_state": lo, "tries": tries,
                            "clean": lo <= LEAK_SLACK}
        if "phases_allocator_raw" in rk:  # fp8 runs: what the raw trace says (gloo's copies' lost frees included)
            rk["leak_check"]["beyond_state_raw"] = _lost_frees({"phases": rk["phases_allocator_raw"], **{
                k: v for k, v in rk.items() if k != "phases"}})
    import peft
    out = {"spec": sp, "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
           "model": ranks[0]["model"], "ranks": ranks, "wall_s": round(time.time() - t0, 2)}
    if sp.get("fp8"):
        import torchao
        out["torchao"] = torchao.__version__
    return out
