#pragma once
// The built-in recipes, one function per framework, each in its own file in this directory.
// Adding a recipe: write src/core/recipes/<framework>.cpp returning its Recipe, declare it
// here and list it in src/core/recipe.cpp's recipe_makers().

#include <vramcalc/recipe.hpp>

namespace vramcalc::recipes {

Recipe peft();       // peft.cpp: PEFT LoraConfig + HF Trainer defaults
Recipe torchtune();  // torchtune.cpp: 8B_qlora_single_device
Recipe litgpt();     // litgpt.cpp: litgpt finetune lora

}  // namespace vramcalc::recipes
