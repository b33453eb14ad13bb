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
FamilySpec mixtral_family();
FamilySpec qwen2_moe_family();
FamilySpec qwen3_moe_family();

/// What the mixture-of-experts families share (families/moe_common.cpp).
namespace moe {
/// num_experts_per_tok, the expert count under `experts_key`, the expert width under `width_key`;
/// rejects configs whose layers are not all MoE layers (mlp_only_layers, decoder_sparse_step).
void read(const ConfigReader& c, ModelConfig& m, const char* experts_key, const char* width_key);
/// mlp.gate.weight (the router, E × h) and mlp.experts.gate_up_proj (E, 2·I_e, h) / down_proj (E, h, I_e).
void routed_experts(std::vector<ParamTensor>& out, const ModelConfig& m);
/// The layer's MoE block op.
MlpOp block(const ModelConfig& m, bool fp32_routing_weights);
}  // namespace moe
FamilySpec gpt2_family();
FamilySpec phi_family();
FamilySpec starcoder2_family();
FamilySpec gemma3_family();
FamilySpec bloom_family();
FamilySpec bert_family();
FamilySpec roberta_family();
FamilySpec gpt_oss_family();
FamilySpec deepseek_v2_family();
FamilySpec deepseek_v3_family();
FamilySpec t5_family(Family family);  ///< t5, mt5, umt5 (encoder-decoders)

}  // namespace vramcalc
