// Encoder-decoders: refused by estimates until their activations are modelled.
#include "core/encoder_decoder.hpp"

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {

// T5ForConditionalGeneration runs the encoder over the input (its own length) and the decoder
// over the labels (another length), each decoder block attending to the encoder output
// (transformers models/t5/modeling_t5.py T5Block, T5LayerCrossAttention): the single stack of
// one sequence length that activations.cpp and the timeline model would give wrong numbers.
// `vramcalc models` and the parameter inventory (count_parameters) are exact.
void validate_encoder_decoder(const EstimateInputs& in) {
  if (!in.model.encoder_decoder()) return;
  throw InputError(field::kModel, in.model.name,
                   fmt::format("{} is an encoder-decoder ({} encoder + {} decoder layers): its parameters are exact "
                               "(vramcalc models), its training and inference memory are not modelled yet",
                               family_name(in.model.family), in.model.num_layers, in.model.num_decoder_layers));
}

}  // namespace vramcalc
