#pragma once
/// How the training job is laid out across GPUs. The single-GPU estimate uses the
/// defaults; data-parallel sharding (ZeRO) extends this struct.

#include <cstdint>

namespace vramcalc {

struct ParallelLayout {
  std::uint64_t gpus = 1;           ///< total data-parallel ranks
  std::uint64_t gpus_per_node = 1;  ///< GPUs that share one host
};

}  // namespace vramcalc
