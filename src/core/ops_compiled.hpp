#pragma once
// What a torch.compile'd decoder layer, the model's outside parts and the compiled loss save for
// backward: the forward values AOTAutograd's min-cut partitioner keeps (torch/_functorch/
// partitioners.py min_cut_rematerialization_partition; the rest is recomputed in the backward
// graph). Measured on the CPU with the partitioner's own saved list (tools/measure/alloc_measure.py
// _partition_probe, tools/measure/FINDINGS.md "torch.compile").

#include <vector>

#include <vramcalc/activations.hpp>
#include <vramcalc/architecture.hpp>
#include <vramcalc/logits_loss.hpp>

#include "core/ops.hpp"

namespace vramcalc {

/// One compiled layer's saved tensors (Compile::kModel or kBlocks).
std::vector<SavedTensor> compiled_layer_saved(const LayerSpec& spec, const ModelConfig& m, const TrainingSetup& setup,
                                              const Dims& x);
/// Outside the layers: ids, RoPE inputs, the mask the compiled graph saves once, the final norm.
void compiled_outside(const LayerSpec& spec, const TrainingSetup& setup, const Dims& x, Activations& act);
/// Whether the compiled graph gets a materialised mask: transformers' masking_utils cannot skip
/// it while dynamo traces the mask creation (whole-model compile), so SDPA is called with it.
bool compiled_masked(const TrainingSetup& setup);
/// The full cross-entropy loss compiled (in the model's graph, or on its own).
LogitsLoss compiled_full_loss(const ModelConfig& m, const TrainingSetup& setup);
/// InputError(field::kCompile) for combinations whose compiled graphs are not modelled.
void validate_compile(const ModelConfig& m, const TrainingSetup& setup);

/// torchtitan's op-level SAC around each compiled block (ops_compiled_sac.cpp): fills
/// act.kept_parts with what one layer keeps and returns their sum.
Bytes compiled_op_sac_kept(const ModelConfig& m, const Dims& x, Bytes layer_input, Activations& act);
/// InputError(field::kCompile) for op-level SAC with a compile form or model it is not modelled for.
void validate_compiled_op_sac(const ModelConfig& m, const TrainingSetup& setup);

}  // namespace vramcalc
