#pragma once
/// One memory term: its bytes, the formula that produced them with its inputs, and where
/// the formula comes from.

#include <string>

#include <vramcalc/component.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {

struct Term {
  std::string name;        ///< stable identifier: a component's name, or a part's ("attn.q")
  Bytes bytes = 0;
  std::string formula;     ///< one line: symbols, then the inputs substituted
  std::string source;      ///< paper, or code path in PyTorch / DeepSpeed / Transformers
  bool estimated = false;  ///< true when derived from reading code or empirical, not exact arithmetic
};

/// A term that is one of the reported components: named from the component table.
inline Term component_term(ComponentId id, Bytes bytes, std::string formula, std::string source, bool estimated = false) {
  return {std::string(name_of(id)), bytes, std::move(formula), std::move(source), estimated};
}

}  // namespace vramcalc
