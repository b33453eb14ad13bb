// HF config.json → ModelConfig. Field names and family defaults follow the HF config
// classes (transformers/models/<family>/configuration_<family>.py).
#include <vramcalc/model_io.hpp>

#include <algorithm>
#include <filesystem>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/embedded_configs.hpp"
#include "core/json_input.hpp"
#include "core/model_head.hpp"
#include "core/spellcheck.hpp"
#include <vramcalc/architecture.hpp>
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

using nlohmann::json;

// A value as the user wrote it (InputError escapes and shortens it). Nesting is bounded by the
// parser, so dump() cannot recurse deeply; its size by the file limit.
std::string shown(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// The largest value accepted for each size field: far above any published model, low enough
// that every product vramcalc forms from them stays exact in 64 bits for ordinary setups.
struct Limit {
  const char* key;
  std::uint64_t max;
};
constexpr Limit kLimits[] = {
    {"hidden_size", 1ULL << 20},       {"num_hidden_layers", 1ULL << 16}, {"num_attention_heads", 1ULL << 16},
    {"num_key_value_heads", 1ULL << 16}, {"intermediate_size", 1ULL << 22}, {"vocab_size", 1ULL << 24},
    {"head_dim", 1ULL << 16},          {"sliding_window", 1ULL << 32},    {"max_window_layers", 1ULL << 16},
};

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
    for (const auto& limit : kLimits) {
      if (std::string_view(limit.key) == key && v > limit.max) {
        throw InputError(config_field(key), shown(*it),
                         fmt::format("larger than the largest supported value {} in {}", group_digits(limit.max), origin));
      }
    }
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
  std::uint64_t list_length(const char* key) const override {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return 0;
    if (!it->is_array()) throw InputError(config_field(key), shown(*it), fmt::format("expected a list in {}", origin_));
    return it->size();
  }
  std::string text(const char* key, const std::string& fallback) const override {
    const auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return fallback;
    if (!it->is_string()) throw InputError(config_field(key), shown(*it), fmt::format("expected a string in {}", origin_));
    return it->get<std::string>();
  }

 private:
  const json& j_;
  const std::string& origin_;
};

// `layer_types`, validated as transformers' configuration_utils.layer_type_validation does
// (every entry one of ALLOWED_LAYER_TYPES, one entry per layer), and its sliding layers.
std::uint64_t count_sliding_layer_types(const json& types, std::uint64_t layers, const std::string& origin) {
  const std::string key = config_field("layer_types");
  if (!types.is_array()) throw InputError(key, shown(types), fmt::format("expected a list of layer types in {}", origin));
  if (types.size() != layers) {
    throw InputError(key, shown(types),
                     fmt::format("has {} entries but num_hidden_layers is {}; transformers requires one per layer ({})",
                                 types.size(), layers, origin));
  }
  std::uint64_t n = 0;
  for (const auto& v : types) {
    const std::string type = v.is_string() ? v.get<std::string>() : v.dump();
    if (type == "sliding_attention") {
      ++n;
    } else if (type != "full_attention") {
      const bool transformers_type = type == "chunked_attention" || type == "linear_attention";
      throw InputError(key, type,
                       fmt::format("{} in {}; vramcalc models full_attention and sliding_attention layers",
                                   transformers_type ? "layer type not modeled" : "unknown layer type", origin));
    }
  }
  return n;
}

// Layers with a sliding-window attention mask: `layer_types` when the config lists them, else
// the family's rule (already in m.sliding_layers); none without a window.
std::uint64_t sliding_layer_count(const json& j, const ModelConfig& m, const std::string& origin) {
  if (const auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    const std::uint64_t n = count_sliding_layer_types(*it, m.num_layers, origin);
    return m.sliding_window == 0 ? 0 : n;
  }
  return m.sliding_window == 0 ? 0 : m.sliding_layers;
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

// The config with the family's own spellings copied to the common keys (transformers
// PretrainedConfig.attribute_map: GPT-2's n_embd is hidden_size), unless both are given.
json with_attribute_map(const json& raw, const FamilySpec& family) {
  json j = raw;
  for (const auto& [common, own] : family.attribute_map) {
    const std::string key(own);
    if (!j.contains(std::string(common)) && j.contains(key)) j[std::string(common)] = j[key];
  }
  return j;
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& origin) {
  const json raw = detail::parse_json_object(json_text, field::kModel, origin, "expected a JSON object (an HF config.json)");

  ModelConfig m;
  m.name = origin;
  m.source = origin;
  const FamilySpec& family = family_from(raw, origin);
  const json j = with_attribute_map(raw, family);
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
  detail::read_model_head(j, m, origin);
  if (m.num_kv_heads > m.num_heads || m.num_heads % m.num_kv_heads != 0) {
    throw InputError(config_field("num_key_value_heads"), std::to_string(m.num_kv_heads),
                     fmt::format("must divide num_attention_heads {} ({})", m.num_heads, origin));
  }
  if (m.rotary_dim == 0) m.rotary_dim = m.head_dim;
  if (const auto it = j.find("hidden_act"); it != j.end() && it->is_string()) m.hidden_act = it->get<std::string>();
  m.checkpoint_dtype_bytes = checkpoint_dtype(j, origin);
  m.sliding_layers = sliding_layer_count(j, m, origin);
  // gpt-oss checkpoints store the experts in MXFP4 (quantization_config.quant_method "mxfp4"; mxfp4.hpp).
  if (const auto q = j.find("quantization_config"); m.family == Family::kGptOss && q != j.end() && q->is_object()) {
    m.mxfp4_experts = q->value("quant_method", std::string()) == "mxfp4";
  }
  // Reject sizes whose parameter bytes could not be represented (fp32 bytes of all parameters),
  // naming the config rather than an intermediate product.
  try {
    const ParameterCounts pc = count_parameters(m);
    (void)checked_mul(pc.total, 16);
    (void)checked_product({m.vocab_size, m.hidden_size, 16});
  } catch (const InputError&) {
    throw InputError(field::kModel, origin,
                     fmt::format("the model's byte counts overflow 64 bits (hidden_size {}, num_hidden_layers {}, "
                                 "intermediate_size {}, vocab_size {})",
                                 m.hidden_size, m.num_layers, m.intermediate_size, m.vocab_size));
  }
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
  std::error_code ec;
  const bool exists = std::filesystem::exists(name_or_path, ec);
  const bool looks_like_path = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json");
  if (exists || looks_like_path) return load_model_config(name_or_path);
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
