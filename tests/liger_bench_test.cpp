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

#include <array>

#include <vramcalc/gpu.hpp>
#include <vramcalc/overhead.hpp>

#include <vramcalc/logits_loss.hpp>

#include "core/cuda_reduce.hpp"
#include "core/ops.hpp"
#include "core/ops_fused.hpp"

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
struct MlpShape {
  Bytes h = 4096, I = 11008;
  const char* gpu = "a100-80gb";
};

Bytes standalone_mlp_peak(bool liger, std::uint64_t batch, std::uint64_t seq, const MlpShape& shape = {}) {
  const Bytes h = shape.h, I = shape.I, e = 2, T = batch * seq;
  Dims x{T, h, h, h, I, 32, seq, batch, 128, 128, e, e, false, {}, 0, {}};
  x.kernels.fused_swiglu = liger;
  const MlpOp op{MlpKind::kGated};
  std::vector<SavedTensor> saved_parts;
  mlp_saved(op, x, saved_parts);
  Bytes saved = 0;
  for (const auto& p : saved_parts) saved += p.term.bytes;
  const Bytes tH = e * T * h, tI = e * T * I, w = e * h * I;
  const Bytes glu_grads = liger ? 0 : 2 * tI;
  const Bytes stages = std::max({tI + w, mlp_backward_transient(op, x), glu_grads + tH + w, 3 * tH + w});
  const Bytes persistent = 2 * 3 * w + 4 * tH + cublas_workspace(find_gpu(shape.gpu)).bytes;
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

// The same SwiGLU / GeGLU modules re-measured at liger 0.6.3 (rows written by 4c32ab6a, 2025-11-11,
// NVIDIA GeForce RTX 4090): benchmark/scripts/benchmark_tiled_mlp.py, providers "liger"
// (LigerSwiGLUMLP / LigerGEGLUMLP) and "huggingface" (LlamaMLP), bsz 2, hidden 2048,
// intermediate 4096, bf16 modules (`.to(dtype)`), mode "full": `y = layer(x);
// y.backward(torch.randn_like(y), retain_graph=True)` — the structure of the 0.2.1 script, so the
// same peak model with the new shapes and the RTX 4090's cuBLAS workspaces. The swiglu.py /
// geglu.py kernels of 0.6.3 still save (a, b) and write da, db into their storage.
TEST_CASE("Liger's published SwiGLU and GeGLU memory curves at 0.6.3 (RTX 4090, B=2, h 2048, I 4096, bf16)", "[kernels][liger]") {
  const MlpShape shape{2048, 4096, "rtx-4090"};
  // {T, liger MiB, huggingface MiB}; the GeGLU rows are the same numbers as the SwiGLU ones.
  const std::vector<std::array<double, 3>> swiglu{
      {1024, 232.25, 264.25}, {2048, 336.25, 400.25}, {4096, 544.25, 688.25}, {8192, 960.25, 1264.25}, {16384, 1792.25, 2416.25}};
  for (const auto& [seq, liger_mib, hf_mib] : swiglu) {
    const auto T = static_cast<std::uint64_t>(seq);
    const double liger = static_cast<double>(standalone_mlp_peak(true, 2, T, shape)) / kMiB;
    const double hf = static_cast<double>(standalone_mlp_peak(false, 2, T, shape)) / kMiB;
    INFO("T = " << T << ": liger " << liger << " vs " << liger_mib << " MiB, hf " << hf << " vs " << hf_mib << " MiB");
    CHECK(std::abs(liger / liger_mib - 1.0) < 0.05);
    CHECK(std::abs(hf / hf_mib - 1.0) < 0.05);
    // Exact to the byte at every length (published = whole multiples of 0.25 MiB).
    CHECK(standalone_mlp_peak(true, 2, T, shape) == static_cast<Bytes>(liger_mib * kMiB));
    CHECK(standalone_mlp_peak(false, 2, T, shape) == static_cast<Bytes>(hf_mib * kMiB));
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE, RMSNorm and fused linear cross-entropy (same CSV; A100-SXM4-80GB; "full" memory = peak of
// one forward + backward, median of 10 iterations after reset_peak_memory_stats).
namespace {

double mib(Bytes b) { return static_cast<double>(b) / static_cast<double>(kMiB); }

void check_close(const char* what, std::uint64_t x, Bytes predicted, double published_mib) {
  INFO(what << " at x = " << x << ": predicted " << mib(predicted) << " MiB, published " << published_mib << " MiB");
  CHECK(std::abs(mib(predicted) / published_mib - 1.0) < 0.05);
}

// benchmark/scripts/benchmark_rope.py at b5672a15 (liger 0.2.1): q (1, s, 32, d) and k (1, s, 8, d)
// bf16 leaves seen through transpose(1, 2), dq and dk randn_like, cos/sin (1, s, d) bf16 from
// LlamaRotaryEmbedding (its inv_freq buffer fp32 d/2, position_ids int64 s; its matmul is the only
// cuBLAS call, on the forward thread: one workspace); torch.autograd.grad((q_out, k_out), (q, k),
// (dq, dk), retain_graph=True) with q_out, k_out alive.
//   Liger (ops/rope.py LigerRopeFunction): transpose back to (b, s, heads, d) is the leaves' own
//   layout, .contiguous() is a no-op, the kernel rotates q and k in place and saves only cos and
//   sin; backward rotates dq and dk in place. Nothing is allocated: the peak is the inputs.
//   HF (apply_rotary_pos_emb: q·cos + rotate_half(q)·sin): the outputs q_embed, k_embed (Q + K)
//   and no saved activation (the muls save cos/sin only), then in backward the k path runs first
//   (created last) with a working set of 3 tensors of its size (dk·cos, dk·sin, and
//   rotate_half's neg / slice-backward buffers), and the q path's 3Q while k's gradient (K) is
//   held. CPU measurement of the same code (torch 2.15, c10 allocator trace, 4 head ratios:
//   32/8, 32/32, 32/2, 8/32) gives exactly Q + K + max(3K, K + 3Q).
Bytes rope_bench_peak(bool liger, Bytes s, Bytes hidden) {
  const Bytes a = 32, kv = 8, d = hidden / a, e = 2;
  const Bytes Q = e * s * a * d, K = e * s * kv * d;
  const Bytes inv_freq = std::max<Bytes>(512, 4 * d / 2);  // CUDA rounds blocks to 512 B
  const Bytes persistent = 2 * Q + 2 * K + 2 * e * s * d + 8 * s + inv_freq + cublas_workspace(find_gpu("a100-80gb")).bytes / 2;
  if (liger) return persistent;
  return persistent + Q + K + std::max(3 * K, K + 3 * Q);
}

}  // namespace

TEST_CASE("Liger's published RoPE memory curves (A100, 32 q / 8 kv heads, bf16)", "[kernels][liger]") {
  // x = hidden size (d = H / 32), s = 2048.
  const std::vector<std::array<double, 3>> by_hidden{{512, 13.26611328125, 22.26611328125},
                                                     {2048, 28.64111328125, 64.64111328125},
                                                     {8192, 90.14111328125, 234.14111328125}};
  for (const auto& [H, liger, hf] : by_hidden) {
    check_close("rope liger (H)", static_cast<std::uint64_t>(H), rope_bench_peak(true, 2048, static_cast<Bytes>(H)), liger);
    check_close("rope hf (H)", static_cast<std::uint64_t>(H), rope_bench_peak(false, 2048, static_cast<Bytes>(H)), hf);
  }
  // x = sequence length, H = 8192.
  const std::vector<std::array<double, 3>> by_seq{{1024, 49.13330078125, 121.13330078125},
                                                  {2048, 90.14111328125, 234.14111328125},
                                                  {4096, 172.15673828125, 460.15673828125},
                                                  {8192, 336.18798828125, 912.18798828125},
                                                  {16384, 664.25048828125, 1816.25048828125}};
  for (const auto& [s, liger, hf] : by_seq) {
    check_close("rope liger (s)", static_cast<std::uint64_t>(s), rope_bench_peak(true, static_cast<Bytes>(s), 8192), liger);
    check_close("rope hf (s)", static_cast<std::uint64_t>(s), rope_bench_peak(false, static_cast<Bytes>(s), 8192), hf);
  }
  // Exact to the byte: the in-place kernel allocates nothing.
  CHECK(rope_bench_peak(true, 1024, 8192) == static_cast<Bytes>(49.13330078125 * kMiB));
  CHECK(rope_bench_peak(false, 16384, 8192) == static_cast<Bytes>(1816.25048828125 * kMiB));
}

namespace {

// benchmark/scripts/benchmark_fused_linear_cross_entropy.py at 90fb5e4a (data row liger 0.4.2,
// 2024-11-22): both modules built (two bf16 lm_head weights V×h), x (BT, h) bf16 with .grad,
// int64 targets, `loss = module(x, target); loss.backward()`; the lm_head weight's .grad exists
// from the second iteration. Both cuBLAS workspaces exist (the speed runs before it in the same
// process did matmuls on the autograd thread).
struct FlceShape {
  Bytes T, V = 128256, h = 4096, e = 2;
};

Bytes flce_persistent(const FlceShape& x) {
  return 3 * x.e * x.V * x.h + 2 * x.e * x.T * x.h + 8 * x.T + cublas_workspace(find_gpu("a100-80gb")).bytes;
}

// HF: lin(x) then nn.CrossEntropyLoss on the bf16 logits (no .float(): the core's
// loss_in_logits_dtype path); its backward peak is the core's loss backward term (saved
// log-probs, the nll grad and the log_softmax grad, all T×V bf16).
Bytes flce_hf_peak(const FlceShape& x) {
  ModelConfig m;
  m.hidden_size = x.h;
  m.vocab_size = x.V;
  m.loss_in_logits_dtype = true;
  TrainingSetup s;
  s.seq_len = x.T;
  s.precision = Precision::kBf16;
  return flce_persistent(x) + logits_loss(m, s).backward.bytes;
}

// Liger 0.4.2 ops/fused_linear_cross_entropy.py: grad_input (T×h) and grad_weight (V×h) zeros,
// fp32 loss_1d (T,), then per chunk of liger_flce_chunk_tokens rows: `logits_chunk = x_c @ W.t()`
// while the previous chunk's bf16 gradient is still bound to grad_logits_chunk, then
// `logits_chunk.float()` (fp32 c×V) before the bf16 one is released: 2cV + 2cV + 4cV; addmm into
// grad_weight in place. (At 90fb5e4a itself the .float() / .to(dtype) pair was removed, 6cV; the
// measured rows match the released 0.4.2 code, 8cV.)
Bytes flce_liger042_peak(const FlceShape& x) {
  const Bytes c = std::min(liger_flce_chunk_tokens(x.T, x.V, x.h), x.T);
  return flce_persistent(x) + x.e * x.T * x.h + x.e * x.V * x.h + 4 * x.T + 8 * c * x.V;
}

}  // namespace

TEST_CASE("Liger's published fused linear cross-entropy memory curve (A100, h 4096, V 128256, bf16)", "[kernels][liger]") {
  const std::vector<std::array<double, 3>> points{{4096, 4245.5478515625, 6092.2822265625},
                                                  {8192, 4466.9697265625, 9162.3134765625},
                                                  {16384, 4910.4384765625, 15302.3759765625},
                                                  {32768, 5794.6259765625, 27582.5}};
  for (const auto& [T, liger, hf] : points) {
    const FlceShape x{static_cast<Bytes>(T)};
    check_close("flce liger 0.4.2", static_cast<std::uint64_t>(T), flce_liger042_peak(x), liger);
    check_close("flce hf", static_cast<std::uint64_t>(T), flce_hf_peak(x), hf);
  }
  // The chunk rule: inc = ceil(V / h) = 32 → chunk = next_pow2(ceil(T / 32)).
  CHECK(liger_flce_chunk_tokens(4096, 128256, 4096) == 128);
  CHECK(liger_flce_chunk_tokens(32768, 128256, 4096) == 1024);
  CHECK(liger_flce_chunk_tokens(8192, 128256, 4096) == 256);
}

// benchmark/scripts/benchmark_rms_norm.py at b5672a15: x (2048, N) bf16 with .grad, dy randn,
// LlamaRMSNorm whose weight is fp32 (nn.Parameter(torch.ones(N))), y = norm(x);
// y.backward(dy, retain_graph=True) — every saved tensor stays alive through the backward.
// HF: weight·h.to(bf16) promotes to fp32, so y is fp32 (4); saved: the fp32 input copy (4) and
// the bf16 normalised tensor (2); the backward's largest working set is at PowBackward0: 24 B per
// element of fp32 gradients and pow_backward temporaries (CPU allocator trace of the same code,
// torch 2.15); with x, dy and x.grad (2 each): 40 B/element.
TEST_CASE("Liger's published RMSNorm memory curve, HF side (A100, M 2048, bf16)", "[kernels][liger]") {
  const std::vector<std::array<double, 2>> hf{{1024, 80.01953125}, {2048, 160.03125}, {4096, 320.0546875},
                                              {8192, 640.1015625}, {16384, 1280.1953125}, {32768, 2560.3828125}};
  for (const auto& [N, published] : hf) {
    const Bytes elems = 2048 * static_cast<Bytes>(N);
    const Bytes persistent = 3 * 2 * elems + 3 * 4 * static_cast<Bytes>(N);  // x, dy, x.grad; two weights, weight.grad
    check_close("rmsnorm hf", static_cast<std::uint64_t>(N), persistent + (4 + 4 + 2 + 24) * elems, published);
  }
}

namespace {

// CUDACachingAllocator rounds every block to a multiple of 512 B (round_size, kMinBlockSize).
Bytes block(Bytes b) { return ceil_div(b, 512) * 512; }

// Liger 0.2.1 (src/liger_kernel/ops/rms_norm.py at b5672a15, the commit that wrote the rows):
// forward allocates Y (M×N, X's dtype) and r (M, fp32) and saves (X, W, r) — the core's
// fused_norm_saved gives X (here the benchmark's own x, no copy) and r. Backward:
// `dW = torch.empty_like(X, dtype=W.dtype)` — M×N fp32, the weight being fp32 — the kernel writes
// dX into dY (the benchmark's dy, handed over as is by y.backward(dy)), then
// `torch.sum(dW, dim=0)`: a column sum of an M×N fp32 tensor that PyTorch splits across thread
// blocks, with a staging buffer of 4·N·ctas·32·4 B (core/cuda_reduce.cpp) — 16…64 MiB for
// N ≤ 4096, capped near 108 SMs × 1 MiB above. Alive at that instant: x, dy, y, dW, r, the two
// modules' fp32 weights, the weight's .grad (from the second iteration), the sum's output, the
// staging buffer and its semaphores. (Liger ≥ 0.3.0, e1e9d2e3, sums per-SM partial rows instead:
// _dW (sm_count, N), no global reduce.)
Bytes liger021_rmsnorm_peak(Bytes N, const GpuSpec& gpu) {
  const Bytes M = 2048, e = 2;
  Dims x{M, N, N, N, N, 1, M, 1, N, N, e, e, false, {}, M, {}};
  x.kernels.fused_norm = true;
  std::vector<SavedTensor> saved;
  fused_norm_saved(NormOp{.name = "norm", .kind = NormKind::kRms, .width = N}, x, saved);
  Bytes saved_bytes = 0;  // X (= the benchmark's x) and r
  for (const auto& t : saved) saved_bytes += block(t.term.bytes);
  const Bytes dy = e * M * N, y = e * M * N, dW = 4 * M * N, weights = 3 * block(4 * N), sum_out = block(4 * N);
  const ReduceWorkspace ws = cuda_column_sum_workspace(M, N, 4, gpu);
  return saved_bytes + dy + y + dW + weights + sum_out + block(ws.buffer) + block(ws.semaphores);
}

}  // namespace

TEST_CASE("Liger's published RMSNorm memory curve, Liger side (A100, M 2048, bf16, liger 0.2.1)", "[kernels][liger]") {
  const GpuSpec& a100 = find_gpu("a100-80gb");
  const std::vector<std::array<double, 2>> liger{{1024, 36.02392578125}, {2048, 72.03955078125}, {4096, 144.07080078125},
                                                 {8192, 268.13330078125}, {16384, 432.25830078125}, {32768, 752.5087890625}};
  for (const auto& [N, published] : liger) {
    const auto n = static_cast<Bytes>(N);
    check_close("rmsnorm liger 0.2.1", n, liger021_rmsnorm_peak(n, a100), published);
    // Exact to the byte at every width: the published values are whole bytes / 2^20.
    CHECK(liger021_rmsnorm_peak(n, a100) == static_cast<Bytes>(published * kMiB));
  }
  // The term that looked like min(8 B/elt, 112 MiB): the column sum's staging buffer.
  CHECK(cuda_column_sum_workspace(2048, 1024, 4, a100).buffer == 16 * kMiB);
  CHECK(cuda_column_sum_workspace(2048, 8192, 4, a100).ctas_per_output == 27);  // ceil(108 SMs · 16 blocks / 64 blocks)
  CHECK(cuda_column_sum_workspace(2048, 8192, 4, a100).buffer == 108 * kMiB);
  CHECK(cuda_column_sum_workspace(2048, 32768, 4, a100).buffer == 112 * kMiB);
  // Today's Liger sums sm_count partial rows: 108 rows (< 256 values per thread) take no staging buffer.
  CHECK(cuda_column_sum_workspace(108, 4096, 4, a100).buffer == 0);
  // On an H100 (132 SMs) the cap moves with the SM count: ceil(132·16 / 256) = 9 CTAs at N = 32768.
  CHECK(cuda_column_sum_workspace(2048, 32768, 4, find_gpu("h100-80gb")).buffer == 4 * 32768 * 9 * 32 * 4);
  GpuSpec unknown = a100;
  unknown.sm_count = 0;
  CHECK(cuda_column_sum_workspace(2048, 1024, 4, unknown).buffer == 0);
}

namespace {

// benchmark/scripts/benchmark_layer_norm.py (b5672a15 wrote the liger 0.2.1 rows on an A100,
// 6a2c4913 the 0.6.0 rows on an H100): LigerLayerNorm(N) and torch.nn.LayerNorm(N) both built
// (fp32 weights and biases: 4 × 4N), x (M, N) fp32 with .grad, dy; `y = ln(x);
// y.backward(dy, retain_graph=True)`. Saved (the core's norm_saved): x itself and the row
// statistics — Liger's Mean / RSTD in X's dtype, torch's fp32 mean / rstd: 8·M either way here.
// Backward: a new DX (M×N) besides x.grad (which took the first one and adds the next in place),
// the new weight and bias grads (2 × 4N) besides the accumulated ones (2 × 4N). Liger 0.2.1 (and
// again from 540575bc, 2025-11: ops/layer_norm.py at ead96b61) also writes per-SM partial sums
// _DW, _DB (sm_count × N, fp32) and column-sums them (sm_count rows: no staging buffer); 0.6.0
// (6a2c4913) accumulated into zeros(N) with atomics instead.
Bytes layernorm_bench_peak(bool liger, bool sm_partials, Bytes N, const GpuSpec& gpu) {
  const Bytes M = 4096, e = 4;
  Dims x{M, N, N, N, N, 1, M, 1, N, N, e, e, false, {}, M, {}};
  x.kernels.fused_norm = liger;
  std::vector<SavedTensor> saved;
  norm_saved(NormOp{.name = "ln", .kind = NormKind::kLayerNorm, .width = N}, x, saved);
  Bytes total = 0;  // x (the saved input) and the statistics
  for (const auto& t : saved) total += block(t.term.bytes);
  total += 4 * e * M * N;      // dy, y, x.grad, the new DX
  total += 8 * block(4 * N);   // 2 × (weight, bias), the Liger module's accumulated grads, the new grads
  if (liger && sm_partials) {
    const auto sms = static_cast<Bytes>(gpu.sm_count);
    total += 2 * block(4 * sms * N) + 2 * block(cuda_column_sum_workspace(sms, N, 4, gpu).buffer);
  }
  return total;
}

}  // namespace

TEST_CASE("Liger's published LayerNorm memory curves (M 4096, fp32; A100 at 0.2.1, H100 at 0.6.0)", "[kernels][liger]") {
  const GpuSpec& a100 = find_gpu("a100-80gb");
  const GpuSpec& h100 = find_gpu("h100-80gb");
  // {N, liger 0.2.1 (A100), huggingface 0.2.1 (A100), liger 0.6.0 (H100), huggingface 0.6.0 (H100)}
  const std::vector<std::array<double, 5>> rows{{1024, 80.90625, 80.0625, 80.0625, 80.0625},
                                                {2048, 161.78125, 160.09375, 160.09375, 160.09375},
                                                {4096, 323.53125, 320.15625, 320.15625, 320.15625},
                                                {8192, 647.03125, 640.28125, 640.28125, 640.28125},
                                                {16384, 1294.03125, 1280.53125, 1280.53125, 1280.53125}};
  for (const auto& [N, liger021, hf021, liger060, hf060] : rows) {
    const auto n = static_cast<Bytes>(N);
    check_close("layernorm liger 0.2.1", n, layernorm_bench_peak(true, true, n, a100), liger021);
    check_close("layernorm hf (A100)", n, layernorm_bench_peak(false, false, n, a100), hf021);
    check_close("layernorm liger 0.6.0", n, layernorm_bench_peak(true, false, n, h100), liger060);
    check_close("layernorm hf (H100)", n, layernorm_bench_peak(false, false, n, h100), hf060);
    // Exact to the byte: the 108 × N fp32 partial-sum pair is the whole Liger 0.2.1 excess.
    CHECK(layernorm_bench_peak(true, true, n, a100) == static_cast<Bytes>(liger021 * kMiB));
    CHECK(layernorm_bench_peak(false, false, n, a100) == static_cast<Bytes>(hf021 * kMiB));
    CHECK(layernorm_bench_peak(true, false, n, h100) == static_cast<Bytes>(liger060 * kMiB));
  }
}

// benchmark/scripts/benchmark_cross_entropy.py at b5672a15 (liger 0.2.1, A100, B·T = 8 × 2048): an
// fp32 leaf _input (BT, V) with .grad, int64 targets, `torch.nn.CrossEntropyLoss()(_input, target)
// .backward()`. HF side = the core's full loss in the fp32 regime (no upcast: saved log-probs, the
// nll grad and the log_softmax grad, 3 × 4·N, and the fp32 total_weight) over the input and its
// accumulated grad; the 4-byte total_weight and loss each take a 512-B block. (Liger's own
// cross_entropy — gradient written into the input — is not a core loss choice: not asserted.)
TEST_CASE("Liger's published cross-entropy memory curve, HF side (A100, BT 16384, fp32)", "[kernels][liger]") {
  const Bytes BT = 8 * 2048;
  const std::vector<std::array<double, 2>> hf{{4096, 1280.1259765625}, {8192, 2560.1259765625}, {16384, 5120.1259765625},
                                              {32768, 10240.1259765625}, {65536, 20480.125}, {131072, 40960.125}};
  for (const auto& [V, published] : hf) {
    ModelConfig m;
    m.hidden_size = 4096;
    m.vocab_size = static_cast<Bytes>(V);
    TrainingSetup s;
    s.seq_len = BT;
    s.precision = Precision::kFp32;
    const Bytes loss_backward = logits_loss(m, s).backward.bytes;  // 12·N + 4
    const Bytes predicted = 2 * 4 * BT * m.vocab_size + 8 * BT + (loss_backward - 4) + block(4) + block(4);
    check_close("cross_entropy hf", m.vocab_size, predicted, published);
    // Exact up to _test_memory's float32 tensor of MiB values (ulp 0.002 MiB = 2 KiB at 20,480 MiB).
    CHECK(std::abs(static_cast<double>(predicted) - published * kMiB) <= 2048.0);
  }
}

}  // namespace vramcalc

