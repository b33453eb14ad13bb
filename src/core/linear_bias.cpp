#include "core/linear_bias.hpp"

#include <string>

namespace vramcalc {

bool has_bias(const std::vector<ParamTensor>& params, const ParamTensor& w) {
  const std::string tail = ".weight";
  if (!w.name.ends_with(tail)) return false;
  const std::string bias = w.name.substr(0, w.name.size() - tail.size()) + ".bias";
  for (const auto& t : params) {
    if (t.name == bias) return true;
  }
  return false;
}

}  // namespace vramcalc
