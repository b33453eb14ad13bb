#pragma once
// Block-wise quantized and paged AdamW variants (bitsandbytes, torchao): how each stores its
// two states per tensor. One table row per optimizer (low_bit_optim.cpp); adding one is one row.

#include <vramcalc/model.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// How a low-bit / paged AdamW stores exp_avg and exp_avg_sq of one tensor of n elements.
struct LowBitAdam {
  Optimizer id;
  Bytes state_bits = 32;       ///< 8 or 4: quantized codes; 32: fp32 states
  Bytes block = 0;             ///< elements per fp32 scale (absmax); 0 when not quantized
  Bytes min_quantized = 0;     ///< tensors with fewer elements keep unquantized states
  bool needs_divisible = false;///< torchao: also n % block == 0 to be quantized
  bool fallback_fp32 = true;   ///< unquantized states: fp32 (bitsandbytes) or the dtype stepped (torchao)
  Bytes maps_per_optimizer = 0;///< quantile maps shared by every tensor (bitsandbytes name2qmap)
  Bytes maps_per_state = 0;    ///< a private fp32 map in each quantized state (torchao qmap)
  Bytes paged_min = 0;         ///< states of tensors with n ≥ this live in unified memory; 0: never
  const char* formula;
  const char* source;
  const char* step_source;
};

/// The row of `optimizer`, or nullptr when it is not a low-bit / paged AdamW.
const LowBitAdam* find_low_bit(Optimizer optimizer);

/// Optimizer states split by where they live: PyTorch-allocated, or CUDA managed memory.
struct LowBitStates {
  Term allocated;  ///< the optimizer_states term (ordinary device tensors)
  Term paged;      ///< the paged_states term (cudaMallocManaged; 0 bytes when not paged)
};

/// `state_bytes`: bytes per element of the dtype the optimizer steps in (torchao's fallback).
LowBitStates low_bit_states(const LowBitAdam& row, const ParameterCounts& pc, Bytes state_bytes);

/// The step's temporaries for the largest tensor of `n_max` elements.
Term low_bit_step_temp(const LowBitAdam& row, std::uint64_t n_max);

}  // namespace vramcalc
