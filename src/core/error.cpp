#include <vramcalc/error.hpp>

namespace vramcalc {

std::string config_field(std::string_view key) { return std::string(field::kConfigPrefix) + std::string(key); }

std::string ds_config_field(std::string_view key_path) {
  return std::string(field::kDsConfigPrefix) + std::string(key_path);
}

std::string_view field_label(std::string_view id) {
  for (std::string_view prefix : {field::kConfigPrefix, field::kDsConfigPrefix}) {
    if (id.size() > prefix.size() && id.substr(0, prefix.size()) == prefix) return id.substr(prefix.size());
  }
  return id;
}

std::string describe_input_error(std::string_view label, std::string_view value, std::string_view problem) {
  std::string out;
  out.reserve(label.size() + value.size() + problem.size() + 6);
  out.append(label).append(": '").append(value).append("': ").append(problem);
  return out;
}

InputError::InputError(std::string field, std::string value, const std::string& problem)
    : std::runtime_error(describe_input_error(field_label(field), value, problem)),
      field_(std::move(field)),
      value_(std::move(value)),
      problem_(problem) {}

}  // namespace vramcalc
