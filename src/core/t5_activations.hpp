#pragma once
// Activations of an encoder-decoder (T5, mT5, UMT5): the encoder stack at the source length, the
// decoder stack at the target length with its cross-attention over the encoder output
// (transformers 5.24 models/t5/modeling_t5.py; measured census: tools/measure/FINDINGS.md §34).

#include <vramcalc/activations.hpp>

namespace vramcalc {

/// Activations::per_layer / layer_parts are an encoder block's, decoder_per_layer /
/// decoder_layer_parts a decoder block's; outside_parts hold the ids, the position buckets, both
/// final norms, the encoder output (saved once by every decoder block's k and v Linears) and
/// lm_head's input. Only what encoder_decoder.cpp accepts is modelled (eager attention; fp32, bf16,
/// mixed, amp with relu; none or full checkpointing).
Activations t5_activations(const ModelConfig& m, const TrainingSetup& setup);

}  // namespace vramcalc
