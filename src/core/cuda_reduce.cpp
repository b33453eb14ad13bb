// The global-reduce workspace of PyTorch's CUDA reduction (cuda_reduce.hpp).
// Source: pytorch aten/src/ATen/native/cuda/Reduce.cuh — ReduceConfig::set_block_dimension,
// setReduceConfig, global_memory_size, semaphore_size, and gpu_reduce_kernel's
// `buffer = allocator.allocate(config.global_memory_size())` (torch 2.x).
#include "core/cuda_reduce.hpp"

#include <algorithm>
#include <bit>

namespace vramcalc {
namespace {

constexpr Bytes kMaxThreads = 512;  // mnt_wrapper<T>::MAX_NUM_THREADS (256 only for complex<double>)
constexpr Bytes kWarp = 32;
constexpr Bytes kMinValuesPerThread = 16;
constexpr Bytes kMaxValuesPerThread = 256;

// get_output_vec_size: 4, halved until it divides the output count (the base address of a
// fresh allocation is 512-B aligned, the strides are the contiguous ones).
Bytes output_vec_size(Bytes cols) {
  Bytes vec = 4;
  while (cols % vec != 0) vec /= 2;
  return vec;
}

// last_pow2 when below the cap, else the cap (set_block_dimension's dim0_pow2 / dim1_pow2).
Bytes capped_pow2(Bytes dim, Bytes cap) { return dim < cap ? std::bit_floor(std::max<Bytes>(dim, 1)) : cap; }

}  // namespace

// "Vectorize along output" (the reduced dimension is not the fastest-moving one): dim0 = cols /
// vec outputs, dim1 = rows inputs per output; block.x spans outputs, block.y splits the inputs when
// each thread keeps >= 16·block.y (or >= 256) values; then, if each thread still has >= 256 values
// and the grid is no larger than SMs × blocks per SM, the inputs are split across
// ctas_per_output = max(min(ceil(target / grid), ceil(vpt / 16)), ceil(vpt / 256)) blocks.
ReduceWorkspace cuda_column_sum_workspace(Bytes rows, Bytes cols, Bytes acc_bytes, const GpuSpec& gpu) {
  ReduceWorkspace w;
  if (gpu.sm_count <= 0 || gpu.max_threads_per_sm <= 0 || rows == 0 || cols == 0) return w;
  w.output_vec = output_vec_size(cols);
  const Bytes max_threads = kMaxThreads / w.output_vec;
  const Bytes dim0 = capped_pow2(cols / w.output_vec, max_threads);
  const Bytes dim1 = capped_pow2(rows, max_threads);
  Bytes block_h = std::min(dim1, max_threads / std::min(dim0, kWarp));
  w.block_x = std::min(dim0, max_threads / block_h);
  const Bytes threads = w.block_x * block_h;
  if (!(rows >= block_h * kMinValuesPerThread || rows >= kMaxValuesPerThread)) return w;  // warps own outputs
  const Bytes vpt = ceil_div(rows, block_h);
  const Bytes grid = ceil_div(cols / w.output_vec, w.block_x);
  const Bytes target = static_cast<Bytes>(gpu.sm_count) * (static_cast<Bytes>(gpu.max_threads_per_sm) / threads);
  if (vpt < kMaxValuesPerThread || grid > target) return w;
  w.ctas_per_output = std::max(std::min(ceil_div(target, grid), ceil_div(vpt, kMinValuesPerThread)), ceil_div(vpt, kMaxValuesPerThread));
  if (w.ctas_per_output <= 1) return w;
  w.buffer = checked_product({acc_bytes, cols, w.ctas_per_output, w.block_x, w.output_vec});
  w.semaphores = checked_mul(4, grid);
  return w;
}

}  // namespace vramcalc
