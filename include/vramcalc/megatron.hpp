#pragma once
/// Megatron-LM's data-parallel states: its DDP keeps one fp32 `main_grad` buffer for every
/// parameter of the rank, and its optimizer keeps fp32 master weights and Adam states, whole
/// (Float16OptimizerWithFloat16Params) or sharded over the data-parallel ranks (the
/// distributed optimizer). Research modeling-parallel.md §6.

#include <string>

namespace vramcalc {

enum class MegatronOptimizer {
  kNone,         ///< not Megatron: torch DDP or DeepSpeed
  kDdp,          ///< Megatron DDP + Float16OptimizerWithFloat16Params: 2 + 4 + 4 + 8 = 18 B/param
  kDistributed,  ///< --use-distributed-optimizer: 2 + 4 + 12/d B/param
};
const char* to_string(MegatronOptimizer value);
MegatronOptimizer parse_megatron_optimizer(const std::string& text);

}  // namespace vramcalc
