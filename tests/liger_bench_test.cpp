// Liger-Kernel's published per-kernel memory curves (benchmark/data/all_benchmark_data.csv,
// NVIDIA A100-SXM4-80GB, liger 0.2.1, 2024-09-03; kernel_operation_mode "full", y_value_50 in
// MiB = torch.cuda.max_memory_allocated() / 2^20) reproduced from the core's op rules
// (src/core/ops.cpp eager MLP, src/core/ops_fused.cpp Liger SiLU·mul / GELU·mul).
//
// The benchmark (benchmark/scripts/benchmark_swiglu.py, benchmark_geglu.py at b5672a15) builds
// LlamaMLP or LigerSwiGLUMLP / LigerGEGLUMLP in bf16 on the GPU, x (B, T, h) with
// requires_grad, and measures `y = mlp(x); y.backward(torch.randn_like(y), retain_graph=True)`
// over 10 iterations, so from the second one on the weights' and x's .grad exist and the
// saved tensors stay alive through the whole backward (retain_graph).
#include <catch2/catch.hpp>

#include <vramcalc/gpu.hpp>
#include <vramcalc/overhead.hpp>

#include "core/ops.hpp"

namespace vramcalc {
namespace {


struct Point {
  std::uint64_t seq;
  double liger_mib, hf_mib;
};

// The standalone MLP's peak. Besides what the layer model says the MLP saves and what its
// backward allocates, the benchmark holds x, x.grad, y and dy (T×h each), three weights and
// their .grad, and the cuBLAS workspaces. The backward's candidate peaks, in order:
//   down_proj:  dc (T×I) and the weight-grad product (h×I) before AccumulateGrad adds it in place;
//   the GLU:    the op's backward transient (ops.cpp / ops_fused.cpp);
//   gate_proj:  eager's new d_gate and d_up (Liger wrote them into a's and b's storage), one
//               input gradient (T×h) and the weight-grad product;
//   up_proj:    both input gradients and their out-of-place sum (InputBuffer::add of two
//               reshape views), the weight-grad product not yet accumulated.
Bytes standalone_mlp_peak(bool liger, std::uint64_t batch, std::uint64_t seq) {
  const Bytes h = 4096, I = 11008, e = 2, T = batch * seq;
  Dims x{T, h, h, h, I, 32, seq, batch, 128, 128, e, e, false, {}};
  x.kernels.fused_swiglu = liger;
  const MlpOp op{MlpKind::kGated};
  std::vector<SavedTensor> saved_parts;
  mlp_saved(op, x, saved_parts);
  Bytes saved = 0;
  for (const auto& p : saved_parts) saved += p.term.bytes;
  const Bytes tH = e * T * h, tI = e * T * I, w = e * h * I;
  const Bytes glu_grads = liger ? 0 : 2 * tI;
  const Bytes stages = std::max({tI + w, mlp_backward_transient(op, x), glu_grads + tH + w, 3 * tH + w});
  const Bytes persistent = 2 * 3 * w + 4 * tH + cublas_workspace(find_gpu("a100-80gb")).bytes;
  return persistent + saved + stages;
}

void check_curve(const std::vector<Point>& points, std::uint64_t batch) {
  for (const auto& p : points) {
    const double liger = static_cast<double>(standalone_mlp_peak(true, batch, p.seq)) / kMiB;
    const double hf = static_cast<double>(standalone_mlp_peak(false, batch, p.seq)) / kMiB;
    INFO("T = " << p.seq << ": liger " << liger << " vs " << p.liger_mib << " MiB, hf " << hf << " vs " << p.hf_mib << " MiB");
    CHECK(std::abs(liger / p.liger_mib - 1.0) < 0.05);
    CHECK(std::abs(hf / p.hf_mib - 1.0) < 0.05);
  }
}

}  // namespace

TEST_CASE("Liger's published SwiGLU memory curve (A100, B=4, h 4096, I 11008, bf16)", "[kernels][liger]") {
  check_curve({{1024, 1100.25, 1294.25}, {2048, 1582.25, 1992.25}, {4096, 2546.25, 3452.25}, {8192, 4474.25, 6372.25}}, 4);
  // Exact to the byte at every length: the published values are whole multiples of 0.25 MiB.
  CHECK(standalone_mlp_peak(true, 4, 8192) == 4474 * kMiB + kMiB / 4);
  CHECK(standalone_mlp_peak(false, 4, 1024) == 1294 * kMiB + kMiB / 4);
}

TEST_CASE("Liger's published GeGLU memory curve (A100, B=8, h 4096, I 11008, bf16)", "[kernels][liger]") {
  // LigerGELUMulFunction saves a and b like SiLU·mul; HF's gelu_pytorch_tanh saves its input.
  check_curve({{1024, 1582.25, 1992.25}, {2048, 2546.25, 3452.25}, {4096, 4474.25, 6372.25}, {8192, 8330.25, 12212.25}}, 8);
}

}  // namespace vramcalc
