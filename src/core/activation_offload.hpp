#pragma once
// Activation offloading applied to a layer's saved tensors (activation_offload.cpp).
#include <vramcalc/activations.hpp>
#include <vramcalc/architecture.hpp>
#include <vramcalc/estimate.hpp>

#include "core/ops.hpp"

namespace vramcalc {

/// InputError for combinations the offloading model does not cover (selective / op-level
/// checkpointing, LoRA, inference, tensor / context / pipeline parallelism).
void validate_activation_offload(const EstimateInputs& in);
/// Fills act.offload and lowers act.stack to what stays on the GPU (setup.offload_activations).
void apply_activation_offload(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, const LayerSpec& spec,
                              Activations& act);
/// Adds the pinned host copies to the host RAM of `ranks_per_node` ranks.
void add_offload_host(const ActivationOffload& offload, Bytes ranks_per_node, HostMemory& host);

}  // namespace vramcalc
