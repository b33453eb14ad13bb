#pragma once
// Encoder-decoders (T5, mT5, UMT5; families/t5.cpp): what an estimate of one is modelled with.

#include <vramcalc/estimate.hpp>

namespace vramcalc {

/// The target length (field training.target_seq) is required for an encoder-decoder and an
/// error for any other model; an encoder-decoder is estimated only where its two stacks are
/// modelled (t5_activations.cpp): InputError naming the combination otherwise.
void validate_encoder_decoder(const EstimateInputs& in);

/// The sequence length of the logits: the decoder's (target_seq) for an encoder-decoder, else seq_len.
std::uint64_t output_seq(const ModelConfig& m, const TrainingSetup& setup);

}  // namespace vramcalc
