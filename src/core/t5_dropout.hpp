#pragma once
// T5's dropout (config dropout_rate, nn.Dropout in training) as saved tensors: what each of
// modeling_t5.py's dropouts adds to a block and outside the blocks (tools/measure/FINDINGS.md §34).

#include <string>
#include <vector>

#include "core/ops.hpp"

namespace vramcalc {

/// The attention probabilities' dropout (eager_attention_forward): its output, which the
/// probabilities' matmul saves in place of the softmax output (softmax still saves its own), and
/// its bool keep mask (under autocast only the mask: the matmul saves its bf16 cast either way).
/// `prefix` "self" / "cross"; `sk` the key length.
void t5_probabilities_dropout(double p, const std::string& prefix, const Dims& x, Bytes sk, const char* dims_text, BackwardRegion region,
                              std::vector<SavedTensor>& out);
/// A sublayer's output dropout (T5LayerSelfAttention / T5LayerCrossAttention / T5LayerFF): one
/// bool keep mask of T·h (the residual add saves nothing).
void t5_output_dropout(double p, const std::string& name, const char* layer, const Dims& x, BackwardRegion region, std::vector<SavedTensor>& out);
/// The FF's dropout after the activation (T5DenseActDense / T5DenseGatedActDense): its mask, and
/// with relu outside autocast its output (wo's saved input, no longer relu's output).
void t5_ff_dropout(double p, bool gated, const Dims& x, std::vector<SavedTensor>& out);
/// A stack's embedding dropout or final dropout (T5Stack.forward): one bool mask of T·h.
Term t5_stack_dropout(double p, const std::string& name, const char* what, const Dims& x);

}  // namespace vramcalc
