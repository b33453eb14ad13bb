// Names of the layout's enumerations.
#include <vramcalc/layout.hpp>

#include <vramcalc/error.hpp>

namespace vramcalc {

const char* to_string(Interconnect value) {
  switch (value) {
    case Interconnect::kAuto: return "auto";
    case Interconnect::kNvlink: return "nvlink";
    case Interconnect::kPcie: return "pcie";
    case Interconnect::kIb: return "ib";
    case Interconnect::kEfa: return "efa";
  }
  return "?";
}

Interconnect parse_interconnect(const std::string& text) {
  for (Interconnect i : {Interconnect::kAuto, Interconnect::kNvlink, Interconnect::kPcie, Interconnect::kIb, Interconnect::kEfa}) {
    if (text == to_string(i)) return i;
  }
  throw InputError(field::kInterconnect, text, "expected one of auto, nvlink, pcie, ib, efa");
}

}  // namespace vramcalc
