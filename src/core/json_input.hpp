#pragma once
// Reading the JSON files users give (HF config.json, ds_config.json): one place that turns
// I/O and syntax problems into one-line InputErrors.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace vramcalc::detail {

/// The largest config file read (HF config.json and ds_config.json are a few KiB).
inline constexpr std::uint64_t kMaxInputFileBytes = 16ULL << 20;
/// The deepest JSON nesting accepted (real configs nest 3-4 levels).
inline constexpr std::size_t kMaxJsonDepth = 64;

/// Parses `text` as a JSON object. Malformed JSON is InputError(field, origin, "malformed JSON
/// at line L, column C"); so are nesting deeper than kMaxJsonDepth and numbers beyond double;
/// anything but an object is InputError(field, origin, not_object).
nlohmann::json parse_json_object(const std::string& text, const std::string& field, const std::string& origin,
                                 const std::string& not_object);
/// The whole file, or InputError(field, path, ...) saying why not: it cannot be opened (+
/// open_hint), is a directory or a device, or is larger than kMaxInputFileBytes.
std::string read_text_file(const std::string& path, const std::string& field, const std::string& open_hint = "");

}  // namespace vramcalc::detail
