"""Which Linear outputs torchtitan 9dec370's op-level SAC policy saves in one eager Qwen2 block (CPU, tiny model).

The policy is the harness's (alloc_measure._op_sac_policy: MUST_SAVE aten.mm and the SDPA kernels, every second mm of
the block recomputed); this probe logs its decision for every aten.mm / aten.addmm of block 0's forward. A Linear
with a bias runs aten.addmm (ATen native/Linear.cpp), which is not in _save_list and not counted.
Run: .venv-measure/bin/python tools/measure/op_sac_addmm_probe.py   (tools/measure/FINDINGS.md §41)
"""
import collections

import torch
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts
from transformers import AutoConfig, AutoModelForCausalLM

ops = torch.ops
SAVE = {ops.aten.mm.default, ops.aten._scaled_dot_product_efficient_attention.default,
        ops.aten._scaled_dot_product_flash_attention.default, ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
        ops._c10d_functional.reduce_scatter_tensor.default, ops.aten.abs.default, ops.aten.max.default}
log = []


def context_fn():  # alloc_measure._op_sac_policy's rule, with a log of the forward's matmul decisions
    meta = collections.defaultdict(int)

    def policy(ctx, func, *args, **kwargs):
        key = f"{'recompute' if ctx.is_recompute else 'forward'}_mm_count"
        if func == ops.aten.mm.default:
            meta[key] += 1
        save = func in SAVE and not (func == ops.aten.mm.default and meta[key] % 2 == 0)
        if not ctx.is_recompute and func in (ops.aten.mm.default, ops.aten.addmm.default):
            a, b = (args[0], args[1]) if func == ops.aten.mm.default else (args[1], args[2])
            log.append((str(func), (a.shape[0], b.shape[1]), "MUST_SAVE" if save else "PREFER_RECOMPUTE"))
        return CheckpointPolicy.MUST_SAVE if save else CheckpointPolicy.PREFER_RECOMPUTE
    return create_selective_checkpoint_contexts(policy)


def main():
    cfg = AutoConfig.for_model("qwen2", hidden_size=128, intermediate_size=320, num_attention_heads=4, num_key_value_heads=2,
                               num_hidden_layers=2, vocab_size=4096, max_position_embeddings=2048, use_cache=False)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    model.model.layers[0] = checkpoint_wrapper(model.model.layers[0], context_fn=context_fn, preserve_rng_state=False)
    ids = torch.randint(0, 4096, (1, 256))
    model(input_ids=ids, labels=ids).loss.backward()
    for row in log:
        print(*row)


if __name__ == "__main__":
    main()
