#include "core/json_input.hpp"

#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc::detail {

nlohmann::json parse_json_object(const std::string& text, const std::string& field, const std::string& origin,
                                 const std::string& not_object) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message carries "at line L, column C"; keep only that position.
    const std::string detail = e.what();
    static const std::regex where("line ([0-9]+), column ([0-9]+)");
    std::smatch m;
    const std::string position = std::regex_search(detail, m, where)
                                     ? fmt::format("line {}, column {}", m[1].str(), m[2].str())
                                     : fmt::format("byte {}", e.byte);
    throw InputError(field, origin, fmt::format("malformed JSON at {}", position));
  }
  if (!j.is_object()) throw InputError(field, origin, not_object);
  return j;
}

std::string read_text_file(const std::string& path, const std::string& field, const std::string& open_hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(field, path, "cannot open this file" + open_hint);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(field, path, "cannot read this file");
  return text.str();
}

}  // namespace vramcalc::detail
