#pragma once
/// Loading models: HF config.json text or files, and the built-in catalog (configs/models,
/// embedded into the library at build time). The only I/O in the core.

#include <string>
#include <vector>

#include <vramcalc/model.hpp>

namespace vramcalc {

/// A built-in model: canonical name, aliases and the published parameter count.
struct BuiltinModel {
  std::string name;
  std::vector<std::string> aliases;
  std::string source;
  std::uint64_t published_parameters = 0;  ///< 0 when not published
  ModelConfig config;
};

/// Parses HF config.json text. `origin` names the text in errors (a path or model name).
/// Throws InputError naming the field and value for anything missing or invalid.
ModelConfig parse_model_config(const std::string& json_text, const std::string& origin);
/// Reads and parses a config.json file.
ModelConfig load_model_config(const std::string& path);
/// Every built-in model, sorted by name.
const std::vector<BuiltinModel>& builtin_models();
/// A built-in model by name or alias (case-insensitive), or nullptr.
const BuiltinModel* find_builtin_model(const std::string& name);
/// A built-in name or alias, else a path to a config.json. Throws InputError with a
/// "did you mean" suggestion when it is neither.
ModelConfig resolve_model(const std::string& name_or_path);

}  // namespace vramcalc
