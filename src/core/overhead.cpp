#include <vramcalc/overhead.hpp>

#include <cmath>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

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

Term nccl_buffers(const ParallelLayout& layout) {
  if (layout.nccl_channels && (*layout.nccl_channels == 0 || *layout.nccl_channels > kMaxNcclChannels)) {
    throw InputError(field::kNcclChannels, std::to_string(*layout.nccl_channels),
                     fmt::format("expected 1 to {} (NCCL's MAXCHANNELS)", kMaxNcclChannels));
  }
  if (layout.gpus <= 1) return {"nccl_buffers", 0, "one rank: no communicator", "", false};
  Interconnect fabric = layout.interconnect;
  if (fabric == Interconnect::kAuto) fabric = layout.nodes() > 1 ? Interconnect::kIb : Interconnect::kNvlink;
  // Per connection NCCL allocates one buffer per protocol (src/init.cc computeBuffSizes):
  // Simple NCCL_BUFFSIZE 4 MiB, LL 8·512·8·16 B = 512 KiB, LL128 120·640·8·8 B = 4.6875 MiB.
  constexpr Bytes kSimple = 4 * kMiB;
  constexpr Bytes kLl = 512 * kKiB;
  constexpr Bytes kLl128 = 120 * 640 * 8 * 8;
  const bool simple_only = fabric == Interconnect::kEfa;  // aws-ofi-nccl sets NCCL_PROTO=simple
  const Bytes per_connection = simple_only ? kSimple : kSimple + kLl + kLl128;
  std::uint64_t channels = 0;
  switch (fabric) {
    case Interconnect::kNvlink: channels = 16; break;
    case Interconnect::kPcie: channels = 2; break;
    case Interconnect::kIb: channels = 4; break;
    case Interconnect::kEfa: channels = 8; break;
    case Interconnect::kAuto: break;
  }
  if (layout.nccl_channels) channels = *layout.nccl_channels;
  // Receive connections per channel: the ring's one, plus the tree's (one for two ranks, up to
  // a parent and two children beyond).
  const std::uint64_t connections = layout.gpus == 2 ? 2 : 3;
  constexpr std::uint64_t kCommunicators = 2;  // torch's default process group + the data-parallel group
  const Bytes bytes = checked_product({kCommunicators, channels, connections, per_connection});
  return {"nccl_buffers", bytes,
          fmt::format("{} communicators × {} channels × {} receive connections × {} ({}, {})", kCommunicators, channels,
                      connections, simple_only ? "4 MiB Simple buffer" : "9.19 MiB (Simple 4 + LL 0.5 + LL128 4.69 MiB)",
                      to_string(fabric), layout.nccl_channels ? "channel count given" : "typical channel count, assumed"),
          "NVIDIA/nccl src/init.cc (DEFAULT_BUFFSIZE, computeBuffSizes), src/include/device.h (NCCL_LL_*, NCCL_LL128_*); aws-ofi-nccl forces the Simple protocol", true};
}

Term allocator_reserve(Bytes allocated_peak, double fragmentation) {
  // Rounded as before (llround of the double product), but checked: llround wraps at 2^63.
  const double rounded = std::round(static_cast<double>(allocated_peak) * fragmentation);
  if (!(rounded >= 0.0 && rounded < 18446744073709551616.0)) {
    throw InputError(field::kSizes, fmt::format("{} x {}", allocated_peak, fragmentation),
                     "allocator reserve would overflow 64 bits");
  }
  const auto reserve = static_cast<Bytes>(rounded);
  return {"allocator_reserve", reserve,
          fmt::format("allocated peak × {:.0f}% (fragmentation and block rounding)", fragmentation * 100.0),
          "c10/cuda/CUDACachingAllocator.cpp (2 MiB / 20 MiB segments); empirical 1-19% of allocated in public OOM logs, default 5%",
          true};
}

}  // namespace vramcalc
