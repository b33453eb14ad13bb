#pragma once
// "Did you mean": the closest candidate within a small edit distance (after ninja's
// SpellcheckStringV).

#include <string>
#include <vector>

namespace vramcalc::detail {

/// Levenshtein distance between two strings, case-insensitive.
std::size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate closest to `word` within distance 3, or "" when none is that close.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
/// ASCII lower-case copy.
std::string lower(std::string text);

}  // namespace vramcalc::detail
