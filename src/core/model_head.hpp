#pragma once
// Reading the task head from an HF config.json (model_io.cpp).

#include <string>

#include <nlohmann/json.hpp>

#include <vramcalc/model.hpp>

namespace vramcalc::detail {

/// `architectures[0]` ending in "ForSequenceClassification" selects the classification head;
/// its classes are `id2label`'s entries, else `num_labels`, else 2 (transformers
/// PretrainedConfig: num_labels = len(id2label), default 2).
void read_model_head(const nlohmann::json& config, ModelConfig& m, const std::string& origin);

}  // namespace vramcalc::detail
