// HF Trainer + Accelerate FSDP (accelerate 1.16 / v1.14.0 @beb0672a, transformers 5.x) with bf16=True,
// the defaults of their code: FSDP1 unless FSDP_VERSION=2, fp32 flat parameters (the Accelerator
// upcasts them), MixedPrecision(param_dtype=bf16, reduce_dtype=bf16), fused AdamW.
#include <vramcalc/error.hpp>

#include "core/recipes/recipes.hpp"

namespace vramcalc::recipes {

Recipe accelerate_fsdp() {
  constexpr const char* kPlugin = "huggingface/accelerate src/accelerate/utils/dataclasses.py FullyShardedDataParallelPlugin";
  return {"accelerate-fsdp",
          "HF Trainer + Accelerate FSDP (accelerate v1.14-1.16, transformers 5.x)",
          "FSDP1 over the data-parallel ranks, fp32 flat parameters with bf16 compute and bf16 reduce, fused AdamW",
          {
              {field::kFsdp, "1", "fsdp_version = int(os.environ.get(\"FSDP_VERSION\", \"1\")): FullyShardedDataParallel, transformer auto-wrap",
               std::string(kPlugin) + ".__post_init__"},
              {field::kReshardAfterForward, "true", "sharding_strategy / reshard_after_forward defaults to FULL_SHARD",
               std::string(kPlugin) + " (reshard_after_forward)"},
              {field::kPrecision, "mixed",
               "mixed_precision != \"no\": every FlatParameter is upcast to fp32 after wrapping (parameters, gradients, AdamW states fp32)",
               "huggingface/accelerate src/accelerate/accelerator.py prepare_model (FSDP upcast of low precision parameters)"},
              {field::kParamDtype, "bf16", "set_mixed_precision(\"bf16\"): MixedPrecision(param_dtype=bf16, reduce_dtype=bf16, buffer_dtype)",
               std::string(kPlugin) + ".set_mixed_precision"},
              {field::kReduceDtype, "bf16", "set_mixed_precision(\"bf16\"): reduce_dtype = bf16", std::string(kPlugin) + ".set_mixed_precision"},
              {field::kOptimizer, "adamw-fused", "default_optim = \"adamw_torch_fused\" for torch >= 2.8",
               "huggingface/transformers src/transformers/training_args.py TrainingArguments.__post_init__"},
              {field::kLoss, "full", "ForCausalLMLoss: fp32 upcast of the full logits, cross_entropy",
               "huggingface/transformers src/transformers/loss/loss_utils.py ForCausalLMLoss"},
          }};
}

}  // namespace vramcalc::recipes
