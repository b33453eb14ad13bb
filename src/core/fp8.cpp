// torchao float8 recipes (fp8.hpp): parsing and names.
#include <vramcalc/fp8.hpp>

#include <array>
#include <utility>

#include <fmt/format.h>

#include "core/spellcheck.hpp"
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr std::array<std::pair<Fp8Recipe, const char*>, 4> kRecipes{{{Fp8Recipe::kNone, "none"},
                                                                   {Fp8Recipe::kTensorwise, "tensorwise"},
                                                                   {Fp8Recipe::kRowwise, "rowwise"},
                                                                   {Fp8Recipe::kDelayed, "delayed"}}};

}  // namespace

const char* to_string(Fp8Recipe value) {
  for (const auto& [r, name] : kRecipes) {
    if (r == value) return name;
  }
  return "?";
}

std::vector<std::string> fp8_names() {
  std::vector<std::string> out;
  for (const auto& entry : kRecipes) out.emplace_back(entry.second);
  return out;
}

Fp8Recipe parse_fp8(const std::string& text) {
  const std::string key = detail::lower(text);
  for (const auto& [r, name] : kRecipes) {
    if (key == name) return r;
  }
  const auto names = fp8_names();
  std::string message = fmt::format("expected one of {}", fmt::join(names, ", "));
  const std::string suggestion = detail::closest_match(text, names);
  if (!suggestion.empty()) message += fmt::format(" (did you mean '{}'?)", suggestion);
  throw InputError(field::kFp8, text, message);
}

}  // namespace vramcalc
