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
FamilySpec gpt2_family();
FamilySpec phi_family();
FamilySpec starcoder2_family();
FamilySpec gemma3_family();
FamilySpec bloom_family();
FamilySpec bert_family();
FamilySpec roberta_family();

}  // namespace vramcalc
