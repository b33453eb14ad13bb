#pragma once
// One function per family file: the family's spec (config reading, parameters, layer).

#include <vramcalc/architecture.hpp>

namespace vramcalc {

FamilySpec llama_family(Family family);  ///< llama, mistral, qwen2
FamilySpec gemma_family(Family family);  ///< gemma, gemma2
FamilySpec phi3_family();
FamilySpec gpt_neox_family();
FamilySpec falcon_family();
FamilySpec qwen3_family();
FamilySpec olmo2_family();

}  // namespace vramcalc
