#pragma once
// Reading the JSON files users give (HF config.json, ds_config.json): one place that turns
// I/O and syntax problems into one-line InputErrors.

#include <string>

#include <nlohmann/json.hpp>

namespace vramcalc::detail {

/// Parses `text` as a JSON object. Malformed JSON is InputError(field, origin, "malformed JSON
/// at line L, column C"); anything but an object is InputError(field, origin, not_object).
nlohmann::json parse_json_object(const std::string& text, const std::string& field, const std::string& origin,
                                 const std::string& not_object);
/// The whole file, or InputError(field, path, "cannot open this file" + open_hint).
std::string read_text_file(const std::string& path, const std::string& field, const std::string& open_hint = "");

}  // namespace vramcalc::detail
