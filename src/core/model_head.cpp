// The task head: names, config reading, and the combinations it is modelled with.
#include <vramcalc/model_head.hpp>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/model_head.hpp"

namespace vramcalc {

ModelHead parse_model_head(const std::string& text) {
  if (text == "lm" || text == "mlm") return ModelHead::kLm;
  if (text == "seq-cls") return ModelHead::kSeqCls;
  throw InputError(field::kHead, text, "expected lm (the family's language-model head; mlm for BERT / RoBERTa) or seq-cls");
}

const char* to_string(ModelHead head) { return head == ModelHead::kSeqCls ? "seq-cls" : "lm"; }

std::vector<std::string> model_head_names() { return {"lm", "mlm", "seq-cls"}; }

void set_model_head(ModelConfig& m, ModelHead head) {
  if (head == ModelHead::kSeqCls && m.family != Family::kBert && m.family != Family::kRoberta) {
    throw InputError(field::kHead, "seq-cls",
                     fmt::format("the sequence-classification head is modelled for bert and roberta, not {}", family_name(m.family)));
  }
  m.head = head;
  if (head == ModelHead::kSeqCls && m.num_labels == 0) m.num_labels = 2;
}

void set_num_labels(ModelConfig& m, std::uint64_t num_labels) {
  const std::string value = std::to_string(num_labels);
  if (m.head != ModelHead::kSeqCls) throw InputError(field::kNumLabels, value, "only the sequence-classification head (head seq-cls) has labels");
  if (num_labels < 2) throw InputError(field::kNumLabels, value, "at least 2 classes (1 label is regression with MSELoss, not modelled)");
  if (num_labels > (1ULL << 24)) throw InputError(field::kNumLabels, value, "larger than the largest supported value 16,777,216");
  m.num_labels = num_labels;
}

void validate_model_head(const EstimateInputs& in) {
  if (in.model.head != ModelHead::kSeqCls) return;
  if (in.setup.infer) throw InputError(field::kHead, "seq-cls", "inference of a classification head is not modelled (training only)");
  if (in.setup.loss != LossImpl::kFull) {
    throw InputError(field::kLoss, to_string(in.setup.loss), "a classification head has b × num_labels logits: only the full loss applies");
  }
  if (in.setup.lora.enabled()) {
    throw InputError(field::kHead, "seq-cls", "LoRA with a classification head (PEFT trains the classifier as modules_to_save) is not modelled");
  }
  if (in.layout.has_model_parallel()) {
    throw InputError(field::kHead, "seq-cls", "a classification head under tensor, context or pipeline parallelism is not modelled");
  }
}

namespace detail {

void read_model_head(const nlohmann::json& j, ModelConfig& m, const std::string& origin) {
  const auto arch = j.find("architectures");
  if (arch == j.end() || !arch->is_array() || arch->empty() || !(*arch)[0].is_string()) return;
  const std::string name = (*arch)[0].get<std::string>();
  if (!name.ends_with("ForSequenceClassification")) return;
  if (m.family != Family::kBert && m.family != Family::kRoberta) {
    throw InputError(config_field("architectures"), name,
                     fmt::format("a sequence-classification head is modelled for bert and roberta only ({})", origin));
  }
  std::uint64_t labels = 2;
  if (const auto it = j.find("id2label"); it != j.end() && it->is_object()) {
    labels = it->size();
  } else if (const auto n = j.find("num_labels"); n != j.end() && n->is_number_unsigned()) {
    labels = n->get<std::uint64_t>();
  }
  set_model_head(m, ModelHead::kSeqCls);
  try {
    set_num_labels(m, labels);
  } catch (const InputError& e) {
    throw InputError(config_field("id2label"), std::to_string(labels), fmt::format("{} ({})", e.problem(), origin));
  }
}

}  // namespace detail
}  // namespace vramcalc
