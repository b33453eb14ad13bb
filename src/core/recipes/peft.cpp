// PEFT + HF Trainer: what `get_peft_model(model, LoraConfig())` trained by `Trainer(args=TrainingArguments(...))`
// allocates with every default left alone (peft 0.21.2, transformers 5.24, read in the measurement venv).
#include "recipes.hpp"

#include <vramcalc/error.hpp>

namespace vramcalc::recipes {

Recipe peft() {
  return {"peft",
          "PEFT 0.21.2 + transformers 5.24 Trainer",
          "LoraConfig() defaults (r 8 on q_proj,v_proj, fp32 adapters) on a bf16 base, Trainer defaults (batch 8, fused AdamW)",
          {{field::kPrecision, "bf16",
            "from_pretrained loads the checkpoint's torch_dtype (bf16) and Trainer's bf16=False adds no autocast",
            "transformers modeling_utils.py PreTrainedModel.from_pretrained (dtype None → \"auto\"); training_args.py TrainingArguments.bf16 "
            "default False"},
           {field::kOptimizer, "adamw-fused", "optim defaults to adamw_torch_fused on torch ≥ 2.8",
            "transformers training_args.py TrainingArguments.default_optim"},
           {field::kGradCkpt, "none",
            "gradient_checkpointing / activation_checkpointing default None (off); with a quantized base "
            "prepare_model_for_kbit_training(use_gradient_checkpointing=True) turns it on (set full checkpointing with a quantized base)",
            "transformers training_args.py TrainingArguments.activation_checkpointing; peft utils/other.py "
            "prepare_model_for_kbit_training"},
           {field::kLoss, "full", "the model's loss: one cross-entropy over all logits, upcast to fp32",
            "transformers loss/loss_utils.py ForCausalLMLoss"},
           {field::kMicroBatch, "8", "per_device_train_batch_size default 8",
            "transformers training_args.py TrainingArguments.per_device_train_batch_size"},
           {field::kLoraRank, "8", "LoraConfig.r default 8", "peft tuners/lora/config.py LoraConfig.r"},
           {field::kLoraTargets, "q,v", "target_modules None → the model type's default: q_proj, v_proj for llama, mistral, qwen2",
            "peft utils/constants.py TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING"},
           {field::kLoraDropout, "0", "lora_dropout default 0.0 (nn.Identity, nothing saved)", "peft tuners/lora/config.py LoraConfig.lora_dropout"},
           {field::kLoraDtype, "fp32", "get_peft_model(autocast_adapter_dtype=True) casts bf16/fp16 adapters to fp32",
            "peft mapping_func.py get_peft_model; tuners/tuners_utils.py BaseTunerLayer._cast_adapter_dtype"},
           {field::kKbitUpcast, "true",
            "with a quantized base, PEFT's QLoRA flow calls prepare_model_for_kbit_training: the unquantized parameters go to fp32",
            "peft utils/other.py prepare_model_for_kbit_training; docs developer_guides/quantization.md"}}};
}

}  // namespace vramcalc::recipes
