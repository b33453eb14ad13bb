#pragma once
// The built-in recipes, one function per framework, each in its own file in this directory.
// Adding a recipe: write src/core/recipes/<framework>.cpp returning its Recipe, declare it
// here and list it in src/core/recipe.cpp's recipe_makers().

#include <vramcalc/recipe.hpp>

namespace vramcalc::recipes {

Recipe peft();        ///< peft.cpp: PEFT LoraConfig + HF Trainer defaults
Recipe torchtune();   ///< torchtune.cpp: 8B_qlora_single_device
Recipe litgpt();      ///< litgpt.cpp: litgpt finetune lora
Recipe hf_trainer();  ///< hf_trainer.cpp: transformers 5.x Trainer defaults, pure bf16, fused AdamW
Recipe torchtitan();  ///< torchtitan.cpp: FSDP2, fp32 shards, bf16 compute, fp32 reduce
Recipe megatron();    ///< megatron.cpp: Megatron-LM DDP main_grad buffer and distributed optimizer
Recipe accelerate_fsdp();  ///< accelerate_fsdp.cpp: HF Trainer + Accelerate FSDP1, fp32 flat params, bf16 compute and reduce
Recipe deepspeed();   ///< deepspeed.cpp: bf16 + FusedAdam, zero_optimization sizes at DeepSpeed's defaults
Recipe lightning();   ///< lightning.cpp: Trainer(strategy="fsdp", precision="bf16-mixed"): FSDP1, root only, bf16 compute and reduce

}  // namespace vramcalc::recipes
