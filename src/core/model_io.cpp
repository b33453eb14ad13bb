// HF config.json → ModelConfig. Field names and family defaults follow the HF config
// classes (transformers/models/<family>/configuration_<family>.py).
#include <vramcalc/model_io.hpp>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/embedded_configs.hpp"
#include "core/json_input.hpp"
#include "core/spellcheck.hpp"
#include <vramcalc/architecture.hpp>
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

using nlohmann::json;

std::string shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  if (value.is_string()) text = value.get<std::string>();
  return text;
}

// A required or optional positive integer field.
std::uint64_t positive_int(const json& j, const std::string& origin, const char* key, bool required,
                           std::uint64_t fallback = 0) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw InputError(config_field(key), "(missing)", fmt::format("required field missing in {}", origin));
    return fallback;
  }
  if (it->is_number_unsigned() || (it->is_number_integer() && it->get<std::int64_t>() > 0)) {
    const auto v = it->get<std::uint64_t>();
    if (v > 0) return v;
  }
  throw InputError(config_field(key), shown(*it), fmt::format("expected a positive integer in {}", origin));
}

bool boolean(const json& j, const std::string& origin, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw InputError(config_field(key), shown(*it), fmt::format("expected true or false in {}", origin));
  return it->get<bool>();
}

double non_negative_number(const json& j, const std::string& origin, const char* key, double fallback) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_null()) return 0.0;
  if (!it->is_number() || it->get<double>() < 0.0) {
    throw InputError(config_field(key), shown(*it), fmt::format("expected a non-negative number in {}", origin));
  }
  return it->get<double>();
}

const FamilySpec& family_from(const json& j, const std::string& origin) {
  const auto it = j.find("model_type");
  if (it == j.end() || !it->is_string()) {
    throw InputError(config_field("model_type"), it == j.end() ? "(missing)" : shown(*it),
                     fmt::format("{} must name the model family; supported: {}", origin, supported_model_types()));
  }
  const std::string type = it->get<std::string>();
  if (const FamilySpec* f = find_family(type)) return *f;
  throw InputError(config_field("model_type"), type, fmt::format("unsupported in {}; supported: {}", origin, supported_model_types()));
}

// The family files read their own keys through this.
class JsonConfigReader final : public ConfigReader {
 public:
  JsonConfigReader(const json& j, const std::string& origin) : j_(j), origin_(origin) {}
  std::uint64_t count(const char* key, bool required, std::uint64_t fallback) const override {
    return positive_int(j_, origin_, key, required, fallback);
  }
  bool flag(const char* key, bool fallback) const override { return boolean(j_, origin_, key, fallback); }
  double number(const char* key, double fallback) const override { return non_negative_number(j_, origin_, key, fallback); }
  const std::string& origin() const override { return origin_; }

 private:
  const json& j_;
  const std::string& origin_;
};

// Layers with a sliding-window attention mask: `layer_types` when the config lists them, else
// the family's rule (already in m.sliding_layers); none without a window.
std::uint64_t sliding_layer_count(const json& j, const ModelConfig& m) {
  if (m.sliding_window == 0) return 0;
  if (const auto it = j.find("layer_types"); it != j.end() && it->is_array()) {
    std::uint64_t n = 0;
    for (const auto& v : *it) {
      if (v.is_string() && v.get<std::string>() == "sliding_attention") ++n;
    }
    return n;
  }
  return m.sliding_layers;
}

// Bytes per parameter of the checkpoint (`torch_dtype`, `dtype` in transformers v5).
std::uint64_t checkpoint_dtype(const json& j, const std::string& origin) {
  for (const char* key : {"dtype", "torch_dtype"}) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    const std::string name = it->is_string() ? it->get<std::string>() : it->dump();
    if (name == "float32" || name == "torch.float32") return 4;
    if (name == "bfloat16" || name == "float16" || name == "torch.bfloat16" || name == "torch.float16") return 2;
    if (name.rfind("float8", 0) == 0) return 1;
    throw InputError(config_field(key), name, fmt::format("unknown dtype in {}; expected float32, bfloat16, float16 or float8_*", origin));
  }
  return 4;  // PretrainedConfig without a dtype: weights are fp32
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& origin) {
  const json j = detail::parse_json_object(json_text, field::kModel, origin, "expected a JSON object (an HF config.json)");

  ModelConfig m;
  m.name = origin;
  m.source = origin;
  const FamilySpec& family = family_from(j, origin);
  m.family = family.family;
  m.hidden_size = positive_int(j, origin, "hidden_size", true);
  m.num_layers = positive_int(j, origin, "num_hidden_layers", true);
  m.num_heads = positive_int(j, origin, "num_attention_heads", true);
  m.vocab_size = positive_int(j, origin, "vocab_size", true);
  m.head_dim = positive_int(j, origin, "head_dim", false, 0);
  if (m.head_dim == 0) {
    if (m.hidden_size % m.num_heads != 0) {
      throw InputError(config_field("num_attention_heads"), std::to_string(m.num_heads),
                       fmt::format("does not divide hidden_size {} and head_dim is not given ({})", m.hidden_size, origin));
    }
    m.head_dim = m.hidden_size / m.num_heads;
  }
  family.read(JsonConfigReader(j, origin), m);
  if (m.num_kv_heads > m.num_heads || m.num_heads % m.num_kv_heads != 0) {
    throw InputError(config_field("num_key_value_heads"), std::to_string(m.num_kv_heads),
                     fmt::format("must divide num_attention_heads {} ({})", m.num_heads, origin));
  }
  if (m.rotary_dim == 0) m.rotary_dim = m.head_dim;
  if (const auto it = j.find("hidden_act"); it != j.end() && it->is_string()) m.hidden_act = it->get<std::string>();
  m.checkpoint_dtype_bytes = checkpoint_dtype(j, origin);
  m.sliding_layers = sliding_layer_count(j, m);
  // Reject sizes whose parameter bytes could not be represented (fp32 bytes of all parameters).
  const ParameterCounts pc = count_parameters(m);
  (void)checked_mul(pc.total, 16);
  (void)checked_product({m.vocab_size, m.hidden_size, 16});
  return m;
}

ModelConfig load_model_config(const std::string& path) {
  return parse_model_config(
      detail::read_text_file(path, field::kModel, " (and it is not a built-in model name)"), path);
}

const std::vector<BuiltinModel>& builtin_models() {
  static const std::vector<BuiltinModel> models = [] {
    std::vector<BuiltinModel> out;
    for (const auto& file : detail::embedded_model_configs()) {
      const json j = json::parse(file.text);
      const json& meta = j.at("_vramcalc");
      BuiltinModel b;
      b.name = meta.at("name").get<std::string>();
      for (const auto& a : meta.value("aliases", json::array())) b.aliases.push_back(a.get<std::string>());
      b.source = meta.value("source", file.path);
      if (const auto it = meta.find("published_parameters"); it != meta.end() && it->is_number_unsigned()) {
        b.published_parameters = it->get<std::uint64_t>();
      }
      b.config = parse_model_config(file.text, file.path);
      b.config.name = b.name;
      b.config.source = b.source;
      out.push_back(std::move(b));
    }
    std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
    return out;
  }();
  return models;
}

const BuiltinModel* find_builtin_model(const std::string& name) {
  const std::string key = detail::lower(name);
  for (const auto& b : builtin_models()) {
    if (detail::lower(b.name) == key) return &b;
    for (const auto& a : b.aliases) {
      if (detail::lower(a) == key) return &b;
    }
  }
  return nullptr;
}

ModelConfig resolve_model(const std::string& name_or_path) {
  if (name_or_path.empty()) throw InputError(field::kModel, "", "give a built-in model name or a path to an HF config.json");
  if (const BuiltinModel* b = find_builtin_model(name_or_path)) return b->config;
  std::ifstream probe(name_or_path);
  const bool looks_like_path = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json");
  if (probe || looks_like_path) return load_model_config(name_or_path);
  std::vector<std::string> names;
  for (const auto& b : builtin_models()) {
    names.push_back(b.name);
    names.insert(names.end(), b.aliases.begin(), b.aliases.end());
  }
  std::string message = "unknown model (not a built-in name and no such file)";
  const std::string suggestion = detail::closest_match(name_or_path, names);
  if (!suggestion.empty()) message += fmt::format("; did you mean '{}'?", suggestion);
  throw InputError(field::kModel, name_or_path, message);
}

}  // namespace vramcalc
