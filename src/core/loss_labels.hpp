#pragma once
// The int64 labels transformers' causal-LM loss makes from the caller's labels (pad, then shift).

#include <string>

#include <vramcalc/model.hpp>
#include <vramcalc/training.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {

struct ShiftedLabels {
  Bytes forward = 0;  ///< alive at the loss forward peak (inside cross_entropy)
  Bytes saved = 0;    ///< kept by NllLossBackward0 (its `target`) until the loss backward
  std::string formula;
  std::string source;
};

/// transformers ForCausalLMLoss's padded and shifted labels; zero where the loss takes the
/// caller's labels as a view (masked LM, sequence classification, encoder-decoder).
ShiftedLabels shifted_labels(const ModelConfig& m, const TrainingSetup& setup);

}  // namespace vramcalc
