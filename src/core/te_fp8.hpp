#pragma once
// Transformer Engine under Megatron-LM (layout.megatron set: Megatron's default
// --transformer-impl transformer_engine): TE's own cuBLAS workspace, and FP8 training with
// TE's Float8CurrentScaling (--fp8 tensorwise) or DelayedScaling (--fp8 delayed) recipes:
// what TE's Linears save in fp8, the fp8 weight copies cached across micro-batches, the amax
// history and scale buffers, the casts in flight. tools/measure/FINDINGS.md §40.
#include <vector>

#include <vramcalc/estimate.hpp>
#include <vramcalc/layout_policy.hpp>
#include <vramcalc/timeline.hpp>

#include "core/ops.hpp"

namespace vramcalc {

/// True when --fp8 means Transformer Engine's recipes (Megatron-LM's layout), not torchao's.
bool te_fp8(const TrainingSetup& s, const ParallelLayout& l);

/// InputError(field::kFp8 / kFp8AmaxHistory) for TE fp8 combinations that are not modelled.
void validate_te_fp8(const EstimateInputs& in);
/// InputError for TE options without TE: an amax history without delayed scaling, fp8 params
/// without the distributed optimizer, --tp-comm-overlap without Megatron TP + SP.
void validate_te_options(const EstimateInputs& in);

/// Rewrites one layer's saved tensors for TE fp8 (setup.fp8_te): the Linears' saved inputs in
/// fp8 (1 B per element + a 512 B scale_inv block), the o_proj input's fp8 copy beside the
/// attention kernel's bf16 output.
void te_fp8_saved(const TrainingSetup& s, const Dims& x, std::vector<SavedTensor>& out);

/// The TE fp8 components' terms (weight cache, scale state, casts in flight).
std::vector<Term> te_fp8_terms(const StepContext& ctx);

/// --fp8-param-gather: the rank's Linear weights are TE Float8Tensors (1 B per element in the
/// distributed optimizer's uint8 param buffer) instead of bf16.
void te_fp8_param_gather(const StepContext& ctx, ModelStates& states);

/// What TE fp8 holds at instant `i`.
void te_fp8_at(Instant i, const StepContext& ctx, Moment& m);

/// torch's cuBLAS workspaces plus Transformer Engine's own (one per device) under Megatron.
Term with_te_cublas_workspace(Term torch_workspaces, const std::optional<GpuSpec>& gpu, const ParallelLayout& l);

}  // namespace vramcalc
