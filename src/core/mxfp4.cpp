// MXFP4 experts (transformers 5.24 integrations/mxfp4.py, quantizers/quantizer_mxfp4.py). The
// checkpoint keeps each expert weight (E, out, in) as `*_blocks` (E, out, in/32, 16) uint8, two
// FP4 (e2m1) values per byte, and `*_scales` (E, out, in/32) uint8 e8m0 exponents: 17 bytes per
// 32 weights. Training cannot use them: Mxfp4HfQuantizer.is_trainable is False ("MXFP4
// quantization don't support training, please consider dequantizing the model first by passing
// quantization_config=Mxfp4Config(dequantize=True)"), and on a CPU or without the triton kernels
// the quantizer sets dequantize itself; Mxfp4Dequantize (convert_moe_packed_tensors) then builds
// the experts as ordinary parameters in the load dtype. So a training estimate counts the experts
// in the regime's dtype; the MXFP4 bytes are what the checkpoint holds.
#include <vramcalc/mxfp4.hpp>

#include <fmt/format.h>

namespace vramcalc {
namespace {

// One (E, out, in) expert weight: E·out rows of ⌈in/32⌉ blocks of 16 + 1 bytes.
Bytes packed(std::uint64_t experts, std::uint64_t out, std::uint64_t in) {
  return checked_product({experts, out, ceil_div(in, 32), 17});
}

}  // namespace

Bytes mxfp4_expert_bytes(const ModelConfig& m) {
  if (!m.mxfp4_experts) return 0;
  const std::uint64_t E = m.num_experts;
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t I = m.moe_intermediate_size;
  const Bytes layer = checked_add(packed(E, 2 * I, h), packed(E, h, I));  // gate_up_proj (in h), down_proj (in I)
  return checked_mul(m.num_layers, layer);
}

Bytes mxfp4_checkpoint_bytes(const ModelConfig& m) {
  const ParameterCounts pc = count_parameters(m);
  const std::uint64_t weights = m.mxfp4_experts ? checked_product({m.num_layers, m.num_experts, 3, m.hidden_size, m.moe_intermediate_size}) : 0;
  return checked_add(mxfp4_expert_bytes(m), checked_mul(pc.total - weights, m.checkpoint_dtype_bytes));
}

Term mxfp4_experts_term(const ModelConfig& m) {
  return {"mxfp4_experts", mxfp4_expert_bytes(m),
          fmt::format("L·E·17·(2I_e·⌈h/32⌉ + h·⌈I_e/32⌉) = {} × {} × 17 × (2·{}·{} + {}·{}): FP4 blocks (16 B) + e8m0 scale (1 B) per 32 "
                      "weights, 4.25 bits; on disk only: training dequantizes the experts to the load dtype (Mxfp4Config(dequantize=True)), "
                      "so the estimate counts them as ordinary parameters",
                      m.num_layers, m.num_experts, m.moe_intermediate_size, ceil_div(m.hidden_size, 32), m.hidden_size,
                      ceil_div(m.moe_intermediate_size, 32)),
          "transformers integrations/mxfp4.py Mxfp4GptOssExperts (*_blocks, *_scales), Mxfp4Dequantize; "
          "quantizers/quantizer_mxfp4.py is_trainable (False)",
          false};
}

}  // namespace vramcalc
