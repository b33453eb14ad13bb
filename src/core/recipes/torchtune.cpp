// torchtune: the single-device QLoRA config for Llama-3.1-8B and the recipe that runs it
// (pytorch/torchtune @0b3e04ad recipes/configs/llama3_1/8B_qlora_single_device.yaml,
// recipes/lora_finetune_single_device.py).
#include "recipes.hpp"

#include <vramcalc/error.hpp>

namespace vramcalc::recipes {

namespace {
constexpr const char* kYaml = "torchtune recipes/configs/llama3_1/8B_qlora_single_device.yaml";
}  // namespace

Recipe torchtune() {
  return {"torchtune",
          "torchtune (main @0b3e04ad), lora_finetune_single_device.py",
          "8B_qlora_single_device: NF4 base, bf16 LoRA r 8 on every Linear, checkpointing, chunked loss, fused AdamW, batch 2",
          {{field::kPrecision, "bf16", "dtype: bf16: the model is built in bf16, no autocast",
            std::string(kYaml) + " dtype; lora_finetune_single_device.py _setup_model (training.set_default_dtype)"},
           {field::kOptimizer, "adamw-fused", "torch.optim.AdamW with fused: True", std::string(kYaml) + " optimizer"},
           {field::kGradCkpt, "full", "enable_activation_checkpointing: True, one checkpoint per TransformerSelfAttentionLayer",
            std::string(kYaml) + " enable_activation_checkpointing; lora_finetune_single_device.py training.set_activation_checkpointing"},
           {field::kLoss, "chunked", "CEWithChunkedOutputLoss: the output projection and the fp32 upcast in 8 chunks",
            std::string(kYaml) + " loss; torchtune modules/loss/ce_chunked_output_loss.py (num_output_chunks 8)"},
           {field::kLossChunks, "8", "num_output_chunks default 8", "torchtune modules/loss/ce_chunked_output_loss.py CEWithChunkedOutputLoss"},
           {field::kMicroBatch, "2", "batch_size: 2", std::string(kYaml) + " batch_size"},
           {field::kGradAccum, "16", "gradient_accumulation_steps: 16", std::string(kYaml) + " gradient_accumulation_steps"},
           {field::kLoraRank, "8", "lora_rank: 8", std::string(kYaml) + " model.lora_rank"},
           {field::kLoraTargets, "all-linear",
            "lora_attn_modules q_proj, v_proj, k_proj, output_proj + apply_lora_to_mlp (w1, w2, w3); apply_lora_to_output False",
            std::string(kYaml) + " model; torchtune models/llama3_1/_component_builders.py lora_llama3_1"},
           {field::kLoraDropout, "0", "lora_dropout: 0.0", std::string(kYaml) + " model.lora_dropout"},
           {field::kLoraDtype, "bf16", "LoRALinear's lora_a / lora_b are created under the bf16 default dtype, not upcast",
            "torchtune recipes/lora_finetune_single_device.py _setup_model; modules/peft/lora.py LoRALinear"},
           {field::kBaseQuant, "nf4",
            "qlora_llama3_1_8b: the frozen Linears are torchao NF4Tensor (block 64, int8 scalers per 256 blocks); modelled with bnb's NF4 "
            "double-quant layout, a few bytes per Linear apart",
            "torchtune models/llama3_1/_model_builders.py qlora_llama3_1_8b (quantize_base=True); modules/peft/lora.py LoRALinear "
            "(to_nf4); torchao dtypes/nf4tensor.py"},
           {field::kKbitUpcast, "false", "norms and embeddings stay bf16: torchtune has no prepare_model_for_kbit_training step",
            "torchtune recipes/lora_finetune_single_device.py _setup_model"}}};
}

}  // namespace vramcalc::recipes
