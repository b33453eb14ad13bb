// What a data-parallel layout (DDP, ZeRO 1-3) holds of a LoRA / QLoRA run: the frozen base is
// stored (and, under ZeRO-3, partitioned and gathered) in its own bytes, possibly quantized;
// gradients, fp32 master copies and optimizer states exist only for the trainable adapters.
//  - DeepSpeed runtime/zero/stage_1_and_2.py __init__ and stage3.py _create_fp16_partitions /
//    _create_fp32_partitions build their flat partitions from optimizer.param_groups, which the
//    trainer fills with requires_grad parameters only (transformers Trainer.create_optimizer).
//  - stage3.py / partition_parameters.py Init convert every module parameter, frozen ones too;
//    bitsandbytes Params4bit with bnb_4bit_quant_storage=bfloat16 stores the packed 4-bit
//    weight as a bf16-typed tensor, which ZeRO-3 partitions and all-gathers like any other.
//  - torch/csrc/distributed/c10d/reducer.cpp puts only parameters that require grad in buckets.
#include <algorithm>

#include <vramcalc/adapters.hpp>
#include <vramcalc/quantization.hpp>

#include "core/layout/policies.hpp"

namespace vramcalc {

bool frozen_base(const StepContext& ctx) { return ctx.params.trainable != ctx.params.total; }

std::uint64_t trained_params(const StepContext& ctx) { return ctx.params.trainable; }

Bytes trained_bytes_per_param(const StepContext& ctx, Bytes regime_bytes) {
  if (!frozen_base(ctx)) return regime_bytes;
  for (const auto& t : ctx.params.tensors) {
    if (t.trainable && t.dtype_bytes != 0) return t.dtype_bytes;
  }
  return regime_bytes;
}

Bytes stored_model_bytes(const StepContext& ctx) {
  const Bytes w = precision_bytes(ctx.setup.precision).weight;
  if (!frozen_base(ctx)) return checked_mul(ctx.params.total, w);
  return stored_weight_bytes(ctx.params, w, ctx.setup.lora);
}

Bytes stored_tensor_bytes(const StepContext& ctx, const ParamTensor& t) {
  const Bytes w = precision_bytes(ctx.setup.precision).weight;
  if (t.quantized) return quantized_weight_bytes(ctx.setup.lora.base_quant, ctx.setup.lora.double_quant, t.rows, t.cols);
  return checked_mul(t.numel(), t.dtype_bytes ? t.dtype_bytes : w);
}

Bytes quant_state_bytes(const StepContext& ctx) {
  Bytes total = 0;
  for (const auto& t : ctx.params.tensors) {
    if (!t.quantized) continue;
    // Params4bit.quant_state (absmax, nested absmax, codes) is a plain tensor attribute, not a
    // parameter: ZeRO-3 neither partitions nor gathers it, every rank keeps it whole.
    const Bytes packed = ctx.setup.lora.base_quant == BaseQuant::kInt8 ? t.numel() : ceil_div(t.numel(), 2);
    total = checked_add(total, checked_mul(stored_tensor_bytes(ctx, t) - packed, t.count));
  }
  return total;
}

Bytes zero3_weight_partition(const StepContext& ctx) {
  const Bytes whole = quant_state_bytes(ctx);
  return checked_add(per_rank(stored_model_bytes(ctx) - whole, ctx.layout.gpus), whole);
}

Bytes largest_stored_tensor(const StepContext& ctx, bool layer_only) {
  Bytes largest = 0;
  for (const auto& t : ctx.params.tensors) {
    if (layer_only && t.scope != ParamScope::kLayer) continue;
    largest = std::max(largest, stored_tensor_bytes(ctx, t));
  }
  return largest;
}

std::uint64_t largest_trained_tensor(const StepContext& ctx) {
  std::uint64_t largest = 0;
  for (const auto& t : ctx.params.tensors) {
    if (t.trainable) largest = std::max(largest, t.numel());
  }
  return largest;
}

}  // namespace vramcalc
