#pragma once
/// One memory term: its bytes, the formula that produced them with its inputs, and where
/// the formula comes from.

#include <string>

#include <vramcalc/units.hpp>

namespace vramcalc {

struct Term {
  std::string name;        ///< stable identifier, e.g. "weights"
  Bytes bytes = 0;
  std::string formula;     ///< one line: symbols, then the inputs substituted
  std::string source;      ///< paper, or code path in PyTorch / DeepSpeed / Transformers
  bool estimated = false;  ///< true when derived from reading code or empirical, not exact arithmetic
};

}  // namespace vramcalc
