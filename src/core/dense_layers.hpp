#pragma once
// Models whose first layers differ from the others (DeepSeek first_k_dense_replace: a dense MLP instead of MoE).

#include <vramcalc/model.hpp>

namespace vramcalc {

/// A tensor that only the first_k_dense_replace dense layers have (DeepSeek's mlp.{gate,up,down}_proj).
bool in_dense_layers_only(const ParamTensor& t, const ModelConfig& model);

}  // namespace vramcalc
