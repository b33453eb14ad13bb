#pragma once
// Encoder-decoders (T5, mT5, UMT5; families/t5.cpp): what an estimate of one is modelled with.

#include <vramcalc/estimate.hpp>

namespace vramcalc {

/// InputError (field model) for an encoder-decoder: its parameters are exact, but its
/// activations (an encoder and a decoder stack at two sequence lengths, the decoder's
/// cross-attention over the encoder output) and the step's phases are not modelled yet.
void validate_encoder_decoder(const EstimateInputs& in);

}  // namespace vramcalc
