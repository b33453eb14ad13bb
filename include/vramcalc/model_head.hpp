#pragma once
/// The task head on the base model (ModelConfig::head): the family's language-model head, or
/// sequence classification for the encoders (BertForSequenceClassification,
/// RobertaForSequenceClassification). Set from the config's `architectures` and `id2label` /
/// `num_labels`, or by a field change (field::kHead, field::kNumLabels).

#include <string>
#include <vector>

#include <vramcalc/estimate.hpp>
#include <vramcalc/model.hpp>

namespace vramcalc {

/// "lm" (the family's LM head: causal, or masked for BERT / RoBERTa; "mlm" is accepted too) or
/// "seq-cls"; InputError(field::kHead, text) for anything else.
ModelHead parse_model_head(const std::string& text);
const char* to_string(ModelHead head);
std::vector<std::string> model_head_names();

/// Puts `head` on `m`: InputError(field::kHead) when the family has no such head modelled. A
/// classification head keeps the model's num_labels, 2 (transformers' default) when unset.
void set_model_head(ModelConfig& m, ModelHead head);
/// The classes of the classification head: InputError(field::kNumLabels) without one, or below 2
/// (num_labels 1 is regression with MSELoss, not modelled).
void set_num_labels(ModelConfig& m, std::uint64_t num_labels);

/// Combinations of a classification head with other inputs that are not modelled (inference,
/// chunked / fused losses over a vocabulary, tensor / context / pipeline parallelism).
void validate_model_head(const EstimateInputs& in);

}  // namespace vramcalc
