#pragma once
/// Quantized frozen bases for QLoRA-style fine-tuning: bitsandbytes 4-bit (NF4 / FP4, with or
/// without double quantization) and LLM.int8 storage, exact to the byte, and the dequantized
/// weight each quantized Linear materialises in its forward and backward.

#include <cstdint>
#include <string>

#include <vramcalc/units.hpp>

namespace vramcalc {

enum class BaseQuant {
  kNone,  ///< the base in the regime's dtype
  kNf4,   ///< bnb Linear4bit, quant_type nf4 (byte-identical to fp4)
  kFp4,   ///< bnb Linear4bit, quant_type fp4
  kInt8,  ///< bnb Linear8bitLt (LLM.int8, has_fp16_weights False)
};

const char* to_string(BaseQuant value);
/// "none", "nf4", "fp4", "int8"; InputError(field::kBaseQuant) otherwise.
BaseQuant parse_base_quant(const std::string& text);

/// Bytes one quantized weight of `rows` × `cols` occupies on the GPU, quantization state included.
Bytes quantized_weight_bytes(BaseQuant quant, bool double_quant, std::uint64_t rows, std::uint64_t cols);
/// The formula quantized_weight_bytes follows, for --explain.
std::string quantized_formula(BaseQuant quant, bool double_quant);
/// Where that layout is defined in bitsandbytes.
const char* quantized_source(BaseQuant quant);

/// Transient bytes of dequantizing one rows × cols weight for a matmul in `compute_bytes`
/// (bnb ≥ 0.50 gemm_4bit falls back to dequantize + matmul for training-sized inputs;
/// MatMul4Bit.backward and MatMul8bitLt.backward dequantize the whole weight).
Bytes dequant_transient_bytes(BaseQuant quant, bool double_quant, std::uint64_t rows, std::uint64_t cols, Bytes compute_bytes);

}  // namespace vramcalc
