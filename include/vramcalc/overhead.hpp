#pragma once
/// Memory outside the model's tensors: cuBLAS workspaces (inside the PyTorch allocator), the
/// CUDA context (outside it), and the caching allocator's reserve (c10/cuda/CUDACachingAllocator.cpp, aten/src/ATen/cuda/CublasHandlePool.cpp).

#include <optional>

#include <vramcalc/gpu.hpp>
#include <vramcalc/layout.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// Defaults when no GPU is named: the larger (Hopper) workspace and the Hopper context size.
inline constexpr Bytes kDefaultCublasWorkspace = 4096 * 8 * 1024;       // sm90 CUBLAS_WORKSPACE_CONFIG default
inline constexpr Bytes kDefaultCudaContext = 600 * kMiB;               // public OOM logs, H100 ≈ 0.57 GiB non-PyTorch

/// cuBLAS workspaces: one per (handle, stream); the forward thread and autograd's device
/// thread each hold a handle.
Term cublas_workspace(const std::optional<GpuSpec>& gpu);
/// CUDA context and libraries: non-PyTorch memory, from the GPU catalog or an override.
Term cuda_context(const std::optional<GpuSpec>& gpu, std::optional<Bytes> override_bytes);
/// NCCL's MAXCHANNELS (src/include/device.h): the most channels a communicator uses.
inline constexpr std::uint64_t kMaxNcclChannels = 64;
/// NCCL communication buffers of one rank (non-PyTorch memory), 0 for a single GPU.
/// InputError(field::kNcclChannels) for a channel override outside 1..kMaxNcclChannels.
Term nccl_buffers(const ParallelLayout& layout);
/// Caching-allocator reserve on top of the allocated peak (fragmentation and rounding).
Term allocator_reserve(Bytes allocated_peak, double fragmentation);

}  // namespace vramcalc
