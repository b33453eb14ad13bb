// torch.compile modes (compile.hpp): parsing and names.
#include <vramcalc/compile.hpp>

#include <array>
#include <utility>

#include <fmt/format.h>

#include "core/spellcheck.hpp"
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr std::array<std::pair<Compile, const char*>, 4> kModes{{{Compile::kNone, "none"},
                                                                   {Compile::kModel, "model"},
                                                                   {Compile::kBlocks, "blocks"},
                                                                   {Compile::kBlocksEagerLoss, "blocks-eager-loss"}}};

}  // namespace

const char* to_string(Compile value) {
  for (const auto& [c, name] : kModes) {
    if (c == value) return name;
  }
  return "?";
}

std::vector<std::string> compile_names() {
  std::vector<std::string> out;
  for (const auto& entry : kModes) out.emplace_back(entry.second);
  return out;
}

bool compiles_loss(Compile value) { return value == Compile::kModel || value == Compile::kBlocks; }

bool compiles_blocks_apart(Compile value) { return value == Compile::kBlocks || value == Compile::kBlocksEagerLoss; }

Compile parse_compile(const std::string& text) {
  const std::string key = detail::lower(text);
  for (const auto& [c, name] : kModes) {
    if (key == name) return c;
  }
  const auto names = compile_names();
  std::string message = fmt::format("expected one of {}", fmt::join(names, ", "));
  const std::string suggestion = detail::closest_match(text, names);
  if (!suggestion.empty()) message += fmt::format(" (did you mean '{}'?)", suggestion);
  throw InputError(field::kCompile, text, message);
}

}  // namespace vramcalc
