#pragma once
// The built-in recipes, one function per framework, each in its own file in this directory.
// Adding a recipe: write src/core/recipes/<framework>.cpp returning its Recipe, declare it
// here and list it in src/core/recipe.cpp's kRecipes.

#include <vramcalc/recipe.hpp>

namespace vramcalc::recipes {

Recipe torchtitan();  ///< torchtitan.cpp: FSDP2, fp32 shards, bf16 compute, fp32 reduce
Recipe hf_trainer();  ///< hf_trainer.cpp: transformers 5.x Trainer defaults, pure bf16, fused AdamW
Recipe megatron();    ///< megatron.cpp: Megatron-LM DDP main_grad buffer and distributed optimizer

}  // namespace vramcalc::recipes
