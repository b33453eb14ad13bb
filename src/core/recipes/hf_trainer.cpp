// HF Trainer with transformers 5.x defaults (no DeepSpeed, no FSDP): what its code allocates.
#include <vramcalc/error.hpp>

#include "core/recipes/recipes.hpp"

namespace vramcalc::recipes {

Recipe hf_trainer() {
  return {"hf-trainer",
          "transformers 5.x Trainer / TrainingArguments defaults (torch ≥ 2.8)",
          "pure bf16 (the checkpoint's dtype, no autocast), fused AdamW, no checkpointing, full fp32-upcast loss",
          {
              {field::kPrecision, "bf16",
               "from_pretrained loads the checkpoint's dtype (dtype=\"auto\", bf16 for most checkpoints) and TrainingArguments.bf16 "
               "defaults to False: no autocast, no upcast, so weights, gradients and AdamW states are bf16",
               "huggingface/transformers modeling_utils.py from_pretrained (dtype default \"auto\", PR #42805); training_args.py bf16"},
              {field::kOptimizer, "adamw-fused", "TrainingArguments.optim defaults to adamw_torch_fused when torch ≥ 2.8",
               "huggingface/transformers src/transformers/training_args.py (default_optim)"},
              {field::kGradCkpt, "none", "TrainingArguments.gradient_checkpointing defaults to False",
               "huggingface/transformers src/transformers/training_args.py"},
              {field::kLoss, "full", "ForCausalLMLoss upcasts the full logits to fp32 before cross_entropy",
               "huggingface/transformers src/transformers/loss/loss_utils.py ForCausalLMLoss"},
          }};
}

}  // namespace vramcalc::recipes
