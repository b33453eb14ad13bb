// Quantized-base storage and dequantization temporaries, from bitsandbytes' code
// (bitsandbytes-foundation/bitsandbytes functional.py quantize_4bit / QuantState,
// nn/modules.py Params4bit, Int8Params; autograd/_functions.py MatMul4Bit, MatMul8bitLt).
#include <vramcalc/quantization.hpp>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr std::uint64_t kBlock = 64;         // Params4bit blocksize default (bnb_4bit_blocksize 64)
constexpr std::uint64_t kNestedBlock = 256;  // quantize_4bit(compress_statistics=True): blockwise 8-bit absmax, block 256
constexpr Bytes kCode4bit = 16 * 4;          // QuantState.code: the 16-entry fp32 NF4/FP4 table
constexpr Bytes kNestedCode = 256 * 4;       // state2.code: the 256-entry fp32 dynamic map
constexpr Bytes kOffset = 4;                 // QuantState.offset: fp32 mean of absmax

}  // namespace

const char* to_string(BaseQuant value) {
  switch (value) {
    case BaseQuant::kNone: return "none";
    case BaseQuant::kNf4: return "nf4";
    case BaseQuant::kFp4: return "fp4";
    case BaseQuant::kInt8: return "int8";
  }
  return "?";
}

BaseQuant parse_base_quant(const std::string& text) {
  for (BaseQuant q : {BaseQuant::kNone, BaseQuant::kNf4, BaseQuant::kFp4, BaseQuant::kInt8}) {
    if (text == to_string(q)) return q;
  }
  throw InputError(field::kBaseQuant, text, "expected none, nf4, fp4 or int8");
}

Bytes quantized_weight_bytes(BaseQuant quant, bool double_quant, std::uint64_t rows, std::uint64_t cols) {
  const std::uint64_t n = checked_mul(rows, cols);
  if (quant == BaseQuant::kInt8) return checked_add(n, checked_mul(4, rows));  // CB int8 + SCB fp32 per row
  const Bytes packed = ceil_div(n, 2);
  const std::uint64_t blocks = ceil_div(n, kBlock);
  if (!double_quant) return packed + checked_mul(4, blocks) + kCode4bit;
  return packed + blocks + 4 * ceil_div(blocks, kNestedBlock) + kOffset + kNestedCode + kCode4bit;
}

std::string quantized_formula(BaseQuant quant, bool double_quant) {
  if (quant == BaseQuant::kInt8) return "n int8 (CB) + 4·rows fp32 row scales (SCB)";
  if (!double_quant) return "⌈n/2⌉ packed 4-bit + 4·⌈n/64⌉ fp32 absmax + 64 B code (≈0.5625 B/param)";
  return "⌈n/2⌉ packed 4-bit + ⌈n/64⌉ uint8 absmax + 4·⌈n/64/256⌉ fp32 nested absmax + 4 B offset + 1 KiB nested code + 64 B code "
         "(≈0.5159 B/param)";
}

const char* quantized_source(BaseQuant quant) {
  if (quant == BaseQuant::kInt8) return "bitsandbytes nn/modules.py Int8Params._quantize (int8_vectorwise_quant: CB, SCB)";
  return "bitsandbytes functional.py quantize_4bit (blocksize 64; compress_statistics: quantize_blockwise(absmax, blocksize=256)) and "
         "QuantState; nn/modules.py Params4bit; QLoRA arXiv:2305.14314 §3";
}

Bytes dequant_transient_bytes(BaseQuant quant, bool double_quant, std::uint64_t rows, std::uint64_t cols, Bytes compute_bytes) {
  if (quant == BaseQuant::kNone) return 0;
  const std::uint64_t n = checked_mul(rows, cols);
  const Bytes weight = checked_mul(n, compute_bytes);
  // 4-bit with double quantization first dequantizes the uint8 absmax to fp32 (dequantize_4bit).
  const Bytes absmax = quant != BaseQuant::kInt8 && double_quant ? checked_mul(4, ceil_div(n, kBlock)) : 0;
  // int8 (MatMul8bitLt.backward): CB.to(dtype, copy=True).mul_(SCB.unsqueeze(1).mul(1/127)), the fp32 row scales.
  const Bytes scales = quant == BaseQuant::kInt8 ? checked_mul(4, rows) : 0;
  return checked_add(checked_add(weight, absmax), scales);
}

}  // namespace vramcalc
