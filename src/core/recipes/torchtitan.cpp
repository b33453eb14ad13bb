// torchtitan v0.2.2 (pytorch/torchtitan @73a0e697), Llama 3 training defaults as its code sets them.
#include <vramcalc/error.hpp>

#include "core/recipes/recipes.hpp"

namespace vramcalc::recipes {

Recipe torchtitan() {
  constexpr const char* kParallelize = "pytorch/torchtitan torchtitan/models/llama3/infra/parallelize.py apply_fsdp";
  constexpr const char* kJobConfig = "pytorch/torchtitan torchtitan/config/job_config.py";
  return {"torchtitan",
          "torchtitan v0.2.2 (pytorch/torchtitan @73a0e697)",
          "FSDP2 over the data-parallel ranks, fp32 shards with bf16 compute and fp32 reduce, fused AdamW, op-level SAC",
          {
              {field::kFsdp, "2", "fully_shard on every TransformerBlock and on the whole model (the root)", kParallelize},
              {field::kReshardAfterForward, "true", "reshard_after_forward = not pp_enabled (reshard_after_forward_policy \"default\")", kParallelize},
              {field::kPrecision, "mixed", "training.dtype float32: the sharded parameters, gradients and AdamW states are fp32", kJobConfig},
              {field::kParamDtype, "bf16", "mixed_precision_param = \"bfloat16\" → MixedPrecisionPolicy(param_dtype=bf16)", kJobConfig},
              {field::kReduceDtype, "fp32", "mixed_precision_reduce = \"float32\" → MixedPrecisionPolicy(reduce_dtype=fp32)", kJobConfig},
              {field::kOptimizer, "adamw-fused", "optimizer.name AdamW, implementation = \"fused\"",
               "pytorch/torchtitan torchtitan/components/optimizer.py build_optimizers; job_config.py Optimizer"},
              {field::kGradCkpt, "op-sac", "activation_checkpoint.mode = \"selective\", selective_ac_option = \"op\" (the Llama 3 8B/70B tomls)",
               "pytorch/torchtitan torchtitan/models/llama3/train_configs/llama3_8b.toml; distributed/activation_checkpoint.py"},
              {field::kLoss, "full", "cross_entropy(pred.flatten(0, 1).float(), labels): full fp32 logits, log-softmax saved",
               "pytorch/torchtitan torchtitan/components/loss.py cross_entropy_loss"},
          }};
}

}  // namespace vramcalc::recipes
