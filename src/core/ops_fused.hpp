#pragma once
// What Liger-Kernel's fused kernels save for backward and what their backward allocates, op by
// op (linkedin/Liger-Kernel src/liger_kernel/ops/, read at ead96b61 = v0.8.x). Each rule here
// replaces the HF eager rule of ops.cpp for the same op when the kernel set (kernels.hpp)
// selects the fused kernel; a new fused kernel is one rule here and one switch in KernelSet.

#include <vector>

#include "core/ops.hpp"

namespace vramcalc {

/// LigerRMSNorm / LigerLayerNorm: the statistics and the input they save (the output, saved by
/// the Linears that read it, is added by norm_saved as for eager).
void fused_norm_saved(const NormOp& op, const Dims& x, std::vector<SavedTensor>& out);
/// LigerSwiGLUMLP / LigerPhi3SwiGLUMLP / LigerGEGLUMLP: gate, up and the product.
void fused_glu_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out);
/// Gradient buffers at the fused GLU MLP's backward peak.
Bytes fused_glu_backward_transient(const MlpOp& op, const Dims& x);
/// InputError when the kernel set cannot run on the model's layer (a GLU kernel on a plain MLP).
void validate_kernels(const ModelConfig& model, const TrainingSetup& setup);
/// Rows of one chunk of Liger's fused linear cross-entropy (ops/fused_linear_cross_entropy.py,
/// unchanged since 0.2): next_pow2(ceil(T / ceil(V / h))), the rows whose V logits take about T·h elements.
Bytes liger_flce_chunk_tokens(Bytes T, Bytes V, Bytes h);

}  // namespace vramcalc
