#pragma once
// PyTorch's CUDA reduction kernel (aten/src/ATen/native/cuda/Reduce.cuh, gpu_reduce_kernel): when
// a reduction is split across thread blocks ("global reduce") it takes a staging buffer and a
// semaphore array from the caching allocator for the duration of the kernel. Its size depends on
// the launch configuration, hence on the GPU's SM count and resident threads per SM.

#include <vramcalc/gpu.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {

/// The transient allocations of one column sum: `t.sum(dim=0)` of a contiguous rows × cols tensor
/// (a reduction over the outer, non-fastest-moving dimension), as setReduceConfig plans it.
struct ReduceWorkspace {
  Bytes buffer = 0;          ///< global_memory_size(): acc_bytes · cols · ctas_per_output · block.x · output_vec_size
  Bytes semaphores = 0;      ///< semaphore_size(): 4 B per block of the grid's x dimension
  Bytes ctas_per_output = 1; ///< thread blocks that share one output (1: no global reduce, nothing allocated)
  Bytes block_x = 0;         ///< threads along the outputs in one block
  Bytes output_vec = 1;      ///< outputs one thread loads together (4 when cols is a multiple of 4)
};

/// Column sum of a rows × cols tensor whose accumulator has acc_bytes per value (4 for float,
/// bfloat16 and half inputs: opmath is float). A GPU without a catalogued SM count gets nothing.
ReduceWorkspace cuda_column_sum_workspace(Bytes rows, Bytes cols, Bytes acc_bytes, const GpuSpec& gpu);

}  // namespace vramcalc
