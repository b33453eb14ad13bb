#include <vramcalc/overhead.hpp>

#include <cmath>

#include <fmt/format.h>

namespace vramcalc {

Term cublas_workspace(const std::optional<GpuSpec>& gpu) {
  const Bytes one = gpu ? gpu->cublas_workspace : kDefaultCublasWorkspace;
  return {"cublas_workspace", 2 * one,
          fmt::format("2 handles (forward thread, autograd device thread) × {} B{}", group_digits(one),
                      gpu ? fmt::format(" ({} default)", gpu->arch) : " (sm90 default; no --gpu given)"),
          "aten/src/ATen/cuda/CublasHandlePool.cpp getChosenWorkspaceSize (allocated through the caching allocator)", true};
}

Term cuda_context(const std::optional<GpuSpec>& gpu, std::optional<Bytes> override_bytes) {
  if (override_bytes) {
    return {"cuda_context", *override_bytes, "given with --cuda-context", "user input", true};
  }
  if (gpu) {
    return {"cuda_context", gpu->cuda_context, fmt::format("{} catalog value", gpu->name), gpu->context_source, true};
  }
  return {"cuda_context", kDefaultCudaContext, "600 MiB (no --gpu given: Hopper-class default)",
          "public OOM logs: non-PyTorch memory ≈ 0.57 GiB on H100, 0.48 GiB on A100 (lazy module loading, PyTorch PR #86509)",
          true};
}

Term allocator_reserve(Bytes allocated_peak, double fragmentation) {
  const auto reserve = static_cast<Bytes>(std::llround(static_cast<double>(allocated_peak) * fragmentation));
  return {"allocator_reserve", reserve,
          fmt::format("allocated peak × {:.0f}% (fragmentation and block rounding)", fragmentation * 100.0),
          "c10/cuda/CUDACachingAllocator.cpp (2 MiB / 20 MiB segments); empirical 1-19% of allocated in public OOM logs, default 5%",
          true};
}

}  // namespace vramcalc
