#pragma once
/// LoRA adapters (PEFT `LoraConfig`): which Linears get an adapter, its rank, dropout and
/// dtype. With an adapter the base model is frozen: its parameters get no gradient and no
/// optimizer state, only the adapters' A (r × in) and B (out × r) matrices do
/// (peft tuners/lora/layer.py LoraLayer.update_layer).

#include <cstdint>
#include <string>
#include <vector>

#include <vramcalc/quantization.hpp>

namespace vramcalc {

struct ModelConfig;
struct ParamTensor;
struct ParameterCounts;

struct LoraSetup {
  std::uint64_t rank = 0;             ///< r; 0 = no LoRA (full fine-tuning)
  std::vector<std::string> targets;   ///< module names (q_proj, ..., lm_head); empty = PEFT's default (q_proj, v_proj)
  double dropout = 0.0;               ///< lora_dropout (nn.Dropout before lora_A when > 0)
  std::uint64_t adapter_bytes = 4;    ///< adapter dtype: 4 = fp32 (PEFT ≥ 0.12 autocast_adapter_dtype), 2 = bf16
  /// The dropout mask is a tensor in the input's dtype (CPU `bernoulli_` path) instead of the
  /// 1-byte bool of CUDA's native_dropout. Only the CPU measurements set it.
  bool dropout_mask_in_input_dtype = false;
  BaseQuant base_quant = BaseQuant::kNone;  ///< the frozen base's decoder Linears quantized (QLoRA); lm_head and embeddings stay
  bool double_quant = true;                 ///< bnb_4bit_use_double_quant (the QLoRA paper's setting)
  /// peft utils/other.py prepare_model_for_kbit_training, run before get_peft_model in PEFT's
  /// documented QLoRA flow: every bf16/fp16 parameter that is not a Params4bit (embeddings,
  /// norms, lm_head, biases) is cast to fp32. Only acts with a quantized base; on by default.
  bool kbit_upcast = true;
  /// DoRA (LoraConfig use_dora, peft tuners/lora/dora.py DoraLinearLayer): a trainable magnitude
  /// vector per adapted Linear and the weight-norm path in each forward. Off by default.
  bool dora = false;

  bool enabled() const { return rank > 0; }
};

/// Parses "q,k,v,o,gate,up,down[,lm_head]" (short or HF module names) or a group:
/// attention, mlp, all-linear. InputError(field::kLoraTargets) on an unknown name.
std::vector<std::string> parse_lora_targets(const std::string& text);
/// The module names as given to PEFT, comma-separated.
std::string lora_targets_text(const std::vector<std::string>& targets);
/// The targets actually adapted: `targets`, or PEFT's default for the family when empty.
std::vector<std::string> lora_targets_or_default(const LoraSetup& lora);

/// Freezes every base tensor and appends lora_A / lora_B for each adapted Linear of the
/// inventory (trainable, in the adapter dtype). InputError when a target is not a Linear of
/// the model.
void apply_lora(std::vector<ParamTensor>& tensors, const ModelConfig& model, const LoraSetup& lora);

/// Bytes of every parameter as stored: quantized base tensors by their layout, adapters in
/// their dtype, the rest in `regime_bytes`.
std::uint64_t stored_weight_bytes(const ParameterCounts& pc, std::uint64_t regime_bytes, const LoraSetup& lora);
/// Parameters stored quantized.
std::uint64_t quantized_parameters(const ParameterCounts& pc);
/// Frozen parameters that prepare_model_for_kbit_training cast to fp32 (0 without a quantized base or with kbit_upcast off).
std::uint64_t kbit_upcast_parameters(const ParameterCounts& pc);

/// The exact inventory with adapters (count_parameters(model) when LoRA is off).
ParameterCounts count_parameters(const ModelConfig& model, const LoraSetup& lora);

}  // namespace vramcalc
