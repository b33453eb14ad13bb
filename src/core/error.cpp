#include <vramcalc/error.hpp>

#include <cstdint>

namespace vramcalc {
namespace {

constexpr std::size_t kShownValueChars = 100;  // a value longer than this is cut, with its size (paths fit)
constexpr std::size_t kShownTextChars = 400;   // labels and problems (they may quote a path)

void append_hex(std::string& out, unsigned v, int digits, const char* prefix) {
  static const char* const kHex = "0123456789abcdef";
  out += prefix;
  for (int i = digits - 1; i >= 0; --i) out += kHex[(v >> (4 * i)) & 0xF];
}

// Length of the valid UTF-8 sequence at text[i] and its code point; 0 when the byte does not
// start one (stray continuation, overlong form, surrogate, beyond U+10FFFF, cut short).
std::size_t utf8_sequence(std::string_view text, std::size_t i, std::uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  std::size_t n = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    cp = b0 & 0x0Fu;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// Code points that move the cursor, break the line or reorder text on a terminal.
bool is_invisible_control(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F || cp == 0xFEFF;
}

// `text` on one line: control characters as \n, \t, \x1b, \u2028; bytes that are not UTF-8
// as \xNN; backslashes doubled (and ' as \' when `quote`). At most `limit` characters of
// `text` are shown; a longer text ends in "…(N bytes)".
std::string escaped(std::string_view text, std::size_t limit, bool quote) {
  std::string out;
  std::size_t shown = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (shown >= limit) {
      out += "…(" + std::to_string(text.size()) + " bytes)";
      return out;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    std::string piece;
    std::size_t used = 1;
    if (c < 0x80) {
      switch (c) {
        case '\n': piece = "\\n"; break;
        case '\r': piece = "\\r"; break;
        case '\t': piece = "\\t"; break;
        case '\\': piece = "\\\\"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            append_hex(piece, c, 2, "\\x");
          } else if (quote && c == '\'') {
            piece = "\\'";
          } else {
            piece = static_cast<char>(c);
          }
      }
    } else {
      std::uint32_t cp = 0;
      used = utf8_sequence(text, i, cp);
      if (used == 0) {
        used = 1;
        append_hex(piece, c, 2, "\\x");
      } else if (is_invisible_control(cp)) {
        append_hex(piece, cp, 4, "\\u");
      } else {
        piece.assign(text.substr(i, used));
      }
    }
    out += piece;
    ++shown;
    i += used;
  }
  return out;
}

}  // namespace

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

std::string one_line(std::string_view text) { return escaped(text, kShownTextChars, false); }

std::string shown_value(std::string_view value) { return escaped(value, kShownValueChars, true); }

std::string describe_input_error(std::string_view label, std::string_view value, std::string_view problem) {
  return one_line(label) + ": '" + shown_value(value) + "': " + one_line(problem);
}

InputError::InputError(std::string field, std::string value, const std::string& problem)
    : std::runtime_error(describe_input_error(field_label(field), value, problem)),
      field_(std::move(field)),
      value_(std::move(value)),
      problem_(problem) {}

}  // namespace vramcalc
