#include "cli/terminal.hpp"

#include <string>

namespace vramcalc::cli {

bool use_color(ColorMode mode, bool stdout_is_tty, const char* no_color_env, const char* term_env) {
  if (no_color_env != nullptr && no_color_env[0] != '\0') return false;  // NO_COLOR wins, always
  if (mode == ColorMode::kAlways) return true;
  if (mode == ColorMode::kNever) return false;
  if (term_env != nullptr && std::string(term_env) == "dumb") return false;
  return stdout_is_tty;
}

bool use_unicode(bool stdout_is_tty, const char* no_color_env) {
  return stdout_is_tty && (no_color_env == nullptr || no_color_env[0] == '\0');
}

namespace {
std::string wrap(const std::string& text, const char* code, bool enabled) {
  return enabled ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
}
}  // namespace

std::string style_bold(const std::string& text, bool enabled) { return wrap(text, "1", enabled); }
std::string style_green(const std::string& text, bool enabled) { return wrap(text, "32", enabled); }
std::string style_red(const std::string& text, bool enabled) { return wrap(text, "31", enabled); }
std::string style_dim(const std::string& text, bool enabled) { return wrap(text, "2", enabled); }

}  // namespace vramcalc::cli
