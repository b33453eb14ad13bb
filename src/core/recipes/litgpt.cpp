// litgpt: `litgpt finetune lora` with its defaults (Lightning-AI/litgpt @01fe959c
// litgpt/finetune/lora.py setup / main / fit).
#include "recipes.hpp"

#include <vramcalc/error.hpp>

namespace vramcalc::recipes {

namespace {
constexpr const char* kLora = "litgpt litgpt/finetune/lora.py";
}  // namespace

Recipe litgpt() {
  return {"litgpt",
          "litgpt (main @01fe959c), finetune/lora.py",
          "finetune lora defaults: bf16-true, bf16 LoRA r 8 on query and value, dropout 0.05, chunked loss, AdamW, micro-batch 4",
          {{field::kPrecision, "bf16", "precision None → get_default_supported_precision(training=True): bf16-true where bf16 is supported",
            std::string(kLora) + " setup; litgpt/utils.py get_default_supported_precision"},
           {field::kOptimizer, "adamw", "torch.optim.AdamW with its defaults (foreach); bnb PagedAdamW only when litgpt quantizes (not modelled)",
            std::string(kLora) + " main (optimizer_cls)"},
           {field::kGradCkpt, "none", "activation checkpointing only in the multi-device FSDPStrategy; one device uses strategy auto",
            std::string(kLora) + " setup (FSDPStrategy activation_checkpointing_policy only when devices > 1)"},
           {field::kLoss, "chunked", "model(input_ids, lm_head_chunk_size=128) and chunked_cross_entropy: the loss is taken per chunk",
            std::string(kLora) + " fit; litgpt/utils.py chunked_cross_entropy"},
           {field::kMicroBatch, "4", "TrainArgs micro_batch_size=4", std::string(kLora) + " setup (train: TrainArgs)"},
           {field::kLoraRank, "8", "lora_r: 8", std::string(kLora) + " setup"},
           {field::kLoraTargets, "q,v", "lora_query and lora_value True; key, projection, mlp, head False", std::string(kLora) + " setup"},
           {field::kLoraDropout, "0.05", "lora_dropout: 0.05", std::string(kLora) + " setup"},
           {field::kLoraDtype, "bf16", "the model (adapters included) is created in bf16 under fabric.init_module with bf16-true",
            std::string(kLora) + " main (fabric.init_module)"},
           {field::kKbitUpcast, "false",
            "when litgpt quantizes (bnb.*), Fabric's BitsandbytesPrecision keeps the other parameters in the bf16-true dtype (no fp32 upcast)",
            std::string(kLora) + " setup (plugins = BitsandbytesPrecision(quantize[4:], dtype))"}}};
}

}  // namespace vramcalc::recipes
