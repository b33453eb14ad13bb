#!/usr/bin/env python3
"""Activation offloading (torchtune OffloadActivations) on a transformers Llama, on the CPU.

Runs the REAL torchtune 0.6.1 `torchtune/training/_activation_offloading.py` (loaded by file, package __init__
bypassed) with its CUDA calls replaced by CPU stand-ins: streams and events are no-ops, `.to("cuda")` is a
clone, pinned memory is off (a CPU-only build cannot pin). What the hooks offload, keep and bring back is
unchanged: min_offload_size 1024 B, Parameters kept, the 5-id forward stash, the previous node's tensors freed
in the next node's hook. lm_head runs under torchtune's NoOpManager, as get_act_offloading_ctx_manager does for
a torchtune model's `output`; the loss is computed outside the context, as torchtune's recipes do.

Measures, per configuration (bf16 module, SDPA, gradient checkpointing none / full non-reentrant):
  host_bytes        Σ bytes of the host copies made by pack_tensor (torchtune's tracker, after forward+loss)
  host_tensors      how many
  act_device_after_loss   live activation storages (not host copies, not parameters) after the loss forward
  act_baseline_after_loss the same without offloading
Storages are followed with a TorchDispatchMode and weak references (each storage once), as hf_measure.py does.
Usage: offload_measure.py OUT.json
"""
import contextlib, importlib.util, json, logging, os, sys, sysconfig, types, datetime, subprocess

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def load_torchtune_offloading():
    def stub(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules.setdefault(name, m)
    # The module imports these only for an isinstance check (NF4Tensor) and a TiedLinear head test.
    stub("torchao.dtypes.nf4tensor", NF4Tensor=type("NF4Tensor", (), {}))
    stub("torchtune")
    stub("torchtune.modules", TiedLinear=type("TiedLinear", (), {}))
    stub("torchtune.utils", get_logger=lambda *a: logging.getLogger("torchtune"))
    path = os.path.join(sysconfig.get_paths()["purelib"], "torchtune", "training", "_activation_offloading.py")
    spec = importlib.util.spec_from_file_location("tt_activation_offloading", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FakeStream:
    def wait_event(self, ev): pass
    def wait_stream(self, s): pass
    def record_event(self): return object()


HOST = set()  # storage cdata of host copies


def patch_cuda(mod):
    class CudaProxy:
        def __getattr__(self, name): return getattr(torch.cuda, name)
        default_stream = staticmethod(lambda: FakeStream())
        Stream = staticmethod(lambda: FakeStream())
        stream = staticmethod(lambda s: contextlib.nullcontext())

    class TorchProxy:
        cuda = CudaProxy()
        def __getattr__(self, name): return getattr(torch, name)
        @staticmethod
        def empty_like(t, pin_memory=False, device=None):
            out = torch.empty_like(t)
            HOST.add(out.untyped_storage()._cdata)
            return out
    mod.torch = TorchProxy()
    orig_to = torch.Tensor.to
    def to(self, *a, **k):
        if a and a[0] == "cuda":
            return self.clone()
        return orig_to(self, *a, **k)
    torch.Tensor.to = to
    torch.Tensor.record_stream = lambda self, s: None


class Live(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.st = {}
        self.params = set()
        self.peak_dev = 0
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                s = t.untyped_storage()
                if s._cdata not in self.st and s.nbytes() > 0:
                    self.st[s._cdata] = (s._weak_ref(), s.nbytes())
        if self.track_peak:
            self.peak_dev = max(self.peak_dev, self.device()[0])
        return out
    track_peak = False
    def sweep(self):
        for k in [k for k, (w, n) in self.st.items() if torch.UntypedStorage._expired(w)]:
            torch.UntypedStorage._free_weak_ref(self.st.pop(k)[0])
    def device(self):
        self.sweep()
        dev = sum(n for k, (w, n) in self.st.items() if k not in HOST and k not in self.params)
        host = sum(n for k, (w, n) in self.st.items() if k in HOST)
        return dev, host


def run(cfg, seq, batch, ckpt, offload, tt):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**cfg)).to(torch.bfloat16)
    model.config._attn_implementation = "sdpa"
    if ckpt == "full":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    ids = torch.randint(3, cfg["vocab_size"], (batch, seq))
    HOST.clear()
    ctx = contextlib.nullcontext()
    if offload:
        ctx = tt.OffloadActivations(use_pin_memory=False, use_streams=True)
        noop = tt.NoOpManager()
        model.lm_head.register_forward_pre_hook(lambda *a: noop.__enter__())
        model.lm_head.register_forward_hook(lambda *a: noop.__exit__(), always_call=True)
    live = Live()
    res = {}
    with live:
        for step in range(2):  # the second step is measured (the tracker is emptied by the first backward)
            with ctx:
                logits = model(input_ids=ids).logits
            loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.shape[-1]), ids.view(-1))
            if step == 1:
                live.params = {p.untyped_storage()._cdata for p in model.parameters()}
                res["act_device_after_loss"], res["host_live_after_loss"] = live.device()
                if offload:
                    host = [t for (t, modified) in ctx.tracker.values() if modified]
                    res["host_bytes"] = sum(t.numel() * t.element_size() for t in host)
                    res["host_tensors"] = len(host)
                    res["host_detail"] = [[t.numel() * t.element_size(), str(t.dtype).replace("torch.", ""), list(t.shape)]
                                          for t in host]
                    res["kept_detail"] = [[t.numel() * t.element_size(), str(t.dtype).replace("torch.", ""), list(t.shape)]
                                          for (t, modified) in ctx.tracker.values() if not modified]
                    res["kept_tensors"] = sum(1 for (t, modified) in ctx.tracker.values() if not modified)
                    res["stash_bytes"] = sum(t.numel() * t.element_size() for (t, ev) in ctx.fwd_stash.values())
                live.track_peak = True
                live.peak_dev = 0
            loss.backward()
            live.track_peak = False
            if step == 1:
                res["backward_peak_device"] = live.peak_dev
            model.zero_grad(set_to_none=True)
            del logits, loss
    return res


def main():
    out = sys.argv[1]
    tt = load_torchtune_offloading()
    patch_cuda(tt)
    cfg = dict(hidden_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=32, intermediate_size=320,
               num_hidden_layers=3, vocab_size=4096, max_position_embeddings=16384, use_cache=False,
               tie_word_embeddings=False, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    import transformers
    recs = []
    for seq, batch in ((256, 2), (64, 1)):
        for ckpt in ("none", "full"):
            base = run(cfg, seq, batch, ckpt, False, tt)
            off = run(cfg, seq, batch, ckpt, True, tt)
            recs.append({"seq": seq, "batch": batch, "grad_ckpt": ckpt, "baseline": base, "offload": off})
            print(json.dumps(recs[-1]), flush=True)
    json.dump({"model": dict(model_type="llama", **cfg), "records": recs, "torch": torch.__version__,
               "transformers": transformers.__version__}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
