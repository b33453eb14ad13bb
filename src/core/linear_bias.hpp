#pragma once
// Which Linear weights come with a bias: a biased Linear runs aten.addmm, an unbiased one aten.mm
// (ATen native/Linear.cpp), which op-level checkpointing policies tell apart.

#include <vector>

#include <vramcalc/model.hpp>

namespace vramcalc {

/// True when the module owning weight `w` ("<module>.weight") also has "<module>.bias" in `params`.
bool has_bias(const std::vector<ParamTensor>& params, const ParamTensor& w);

}  // namespace vramcalc
