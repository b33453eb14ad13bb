#pragma once
// What LoRA changes in a decoder layer's saved tensors (peft tuners/lora/layer.py
// Linear.forward: result = base_layer(x) + lora_B(lora_A(dropout(x))) · scaling).

#include <vector>

#include <vramcalc/activations.hpp>
#include <vramcalc/architecture.hpp>
#include <vramcalc/training.hpp>

#include "core/ops.hpp"

namespace vramcalc {

/// Throws InputError for the combinations LoRA is not modelled for (family, precision, layout).
void validate_lora(const ModelConfig& m, const TrainingSetup& setup, bool unsupported_layout);

/// The family's layer with a frozen base: norm weights need no grad, and a norm output or the
/// MLP product is saved only when an adapter reads it without a private copy.
LayerSpec lora_layer_spec(LayerSpec spec, const TrainingSetup& setup, const Dims& x);

/// The adapters' own saved tensors in one layer: lora_A's input when it is a private copy
/// (dropout output or dtype cast) with the dropout mask, and lora_B's input.
void lora_saved(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, std::vector<SavedTensor>& out);

/// A quantized base dequantizes each Linear's weight for its matmul, in forward and again in
/// backward: the largest MLP weight at the MLP's peaks, the largest attention weight at the
/// attention's (adds to the layer's forward and backward transients).
void add_dequant_transients(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Activations& act);
/// DoRA's per-forward weight norm (peft tuners/lora/dora.py DoraLinearLayer.forward): the
/// identity, lora_B(lora_A(I)), W cast to the adapter dtype, scaling·B·A and W + scaling·B·A
/// of the largest adapted Linear, alive together inside its forward.
void add_dora_transient(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Activations& act);

}  // namespace vramcalc
