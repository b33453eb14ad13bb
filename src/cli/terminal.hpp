#pragma once
// Whether to colour output (clig.dev: only on a terminal, never with NO_COLOR or TERM=dumb).

#include "cli/app.hpp"

namespace vramcalc::cli {

bool use_color(ColorMode mode, bool stdout_is_tty, const char* no_color_env, const char* term_env);
/// Unicode block characters in bars only on a terminal without NO_COLOR; plain ASCII otherwise.
bool use_unicode(bool stdout_is_tty, const char* no_color_env);

// ANSI styles, applied only when enabled.
std::string style_bold(const std::string& text, bool enabled);
std::string style_green(const std::string& text, bool enabled);
std::string style_red(const std::string& text, bool enabled);
std::string style_dim(const std::string& text, bool enabled);

}  // namespace vramcalc::cli
