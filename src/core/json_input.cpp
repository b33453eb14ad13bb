#include "core/json_input.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc::detail {
namespace {

// Line and column (1-based) of byte `offset` in `text`.
std::string position_of(const std::string& text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return fmt::format("line {}, column {}", line, column);
}

// Refuses nesting deeper than kMaxJsonDepth before the parser sees the text: nlohmann's parser
// is iterative, but copying, comparing and dumping a value recurse once per level.
void check_depth(const std::string& text, const std::string& field, const std::string& origin) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw InputError(field, origin,
                         fmt::format("JSON nested deeper than {} levels at {}", kMaxJsonDepth, position_of(text, i)));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISCHR(mode)) return "is a character device, not a regular file";
  if (S_ISBLK(mode)) return "is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "is a socket, not a regular file";
  return "is not a regular file";
}

}  // namespace

nlohmann::json parse_json_object(const std::string& text, const std::string& field, const std::string& origin,
                                 const std::string& not_object) {
  check_depth(text, field, origin);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message carries "at line L, column C" (its own, possibly quoting the input);
    // keep only the position, recomputed from the byte offset it reports.
    const std::size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    throw InputError(field, origin, fmt::format("malformed JSON at {}", position_of(text, offset)));
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond double's range (1e400), even under a key vramcalc ignores.
    throw InputError(field, origin, "a JSON number is too large to represent (beyond about 1.8e308)");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(field, origin, fmt::format("unreadable JSON (nlohmann id {})", e.id));
  }
  if (!j.is_object()) throw InputError(field, origin, not_object);
  return j;
}

std::string read_text_file(const std::string& path, const std::string& field, const std::string& open_hint) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw InputError(field, path, fmt::format("cannot open this file ({}){}", std::strerror(errno), open_hint));
  }
  // Regular files and pipes (a shell's <(...)) are read; a directory or a device is named.
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) throw InputError(field, path, file_kind(st.st_mode));
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > kMaxInputFileBytes) {
    throw InputError(field, path,
                     fmt::format("file of {} bytes is larger than the {} MiB a config file may have", st.st_size,
                                 kMaxInputFileBytes >> 20));
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw InputError(field, path, fmt::format("cannot open this file ({}){}", std::strerror(errno), open_hint));
  }
  std::string text;
  char buffer[65536];
  bool too_large = false;
  bool failed = false;
  while (true) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file);
    if (n > 0) {
      if (text.size() + n > kMaxInputFileBytes) {
        too_large = true;
        break;
      }
      text.append(buffer, n);
    }
    if (n < sizeof buffer) {
      failed = std::ferror(file) != 0;
      break;
    }
  }
  std::fclose(file);
  if (too_large) {
    throw InputError(field, path, fmt::format("larger than the {} MiB a config file may have", kMaxInputFileBytes >> 20));
  }
  if (failed) throw InputError(field, path, "cannot read this file");
  return text;
}

}  // namespace vramcalc::detail
