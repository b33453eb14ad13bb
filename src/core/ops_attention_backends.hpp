#pragma once
// Attention backends beyond eager, SDPA's fused kernels and flash-attn: SDPA's math fallback
// (`--attention sdpa-math`) and FlexAttention (`--attention flex`), and which kernel SDPA itself
// picks for a dtype, head dim, mask and GPU (sdp_utils.cpp), reported with `--attention sdpa`.

#include <optional>
#include <string>
#include <vector>

#include <vramcalc/gpu.hpp>

#include "core/ops.hpp"

namespace vramcalc {

/// Backends that materialise the s×s probabilities (the s² part selective checkpointing drops).
inline bool materialises_scores(Attention a) { return a == Attention::kEager || a == Attention::kSdpaMath; }

void sdpa_math_saved(const Dims& x, std::vector<SavedTensor>& out);
void flex_saved(const AttentionOp& op, const Dims& x, std::vector<SavedTensor>& out);
/// Gradient buffers at the attention's backward peak (math, flex).
Bytes sdpa_math_backward_transient(const Dims& x);
Bytes flex_backward_transient(const Dims& x);
/// Score-sized buffers alive inside the math kernel's forward beyond what it saves.
Bytes sdpa_math_forward_transient(const TrainingSetup& setup, const Dims& x);
/// FlexAttention's BlockMask (built once per forward, saved by every layer): zero for other backends.
Term flex_block_mask(const TrainingSetup& setup, const Dims& x);

enum class SdpaKernel { kFlash, kEfficient, kMath };
/// The kernel torch's SDPA dispatcher picks in training (priority flash → efficient → math,
/// aten/src/ATen/native/transformers/cuda/sdp_utils.cpp select_sdp_backend); `gpu` absent =
/// an sm80+ GPU is assumed.
SdpaKernel sdpa_kernel_for(const ModelConfig& m, const TrainingSetup& setup, const std::optional<GpuSpec>& gpu, bool masked);
/// One sentence for --explain: the kernel and why.
std::string sdpa_kernel_note(const ModelConfig& m, const TrainingSetup& setup, const std::optional<GpuSpec>& gpu);

}  // namespace vramcalc
