// Recipes in the output: the one-line summary under the setup, the --explain list of knobs
// with their reasons and sources, the JSON object, and `vramcalc recipes`.
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include "cli/render.hpp"
#include "cli/terminal.hpp"

namespace vramcalc::cli {
namespace {

std::string knob_text(const RecipeKnob& k) { return fmt::format("{} {}", flag_for(k.field), k.value); }

std::string knob_list(const std::vector<RecipeKnob>& knobs) {
  std::string text;
  for (const auto& k : knobs) text += (text.empty() ? "" : ", ") + knob_text(k);
  return text;
}

nlohmann::ordered_json knobs_json(const std::vector<RecipeKnob>& knobs) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& k : knobs) {
    a.push_back({{"field", k.field}, {"flag", flag_for(k.field)}, {"value", k.value}, {"why", k.why}, {"source", k.source}});
  }
  return a;
}

}  // namespace

std::string describe_recipe(const Estimate& est) {
  if (!est.inputs.recipe) return "";
  const AppliedRecipe& r = *est.inputs.recipe;
  std::string text = fmt::format("{} [{}] set {}", r.name, r.framework, r.set.empty() ? "nothing" : knob_list(r.set));
  if (!r.overridden.empty()) text += fmt::format("; your flags kept over its {}", knob_list(r.overridden));
  return text;
}

void render_recipe_explain(std::ostream& out, const Estimate& est, bool color) {
  if (!est.inputs.recipe) return;
  out << style_dim(fmt::format("recipe {}: what it set and why", est.inputs.recipe->name), color) << "\n";
  for (const auto& k : est.inputs.recipe->set) {
    out << style_dim(fmt::format("  {:<30} {}", knob_text(k), k.why), color) << "\n";
    out << style_dim(fmt::format("  {:<30} source: {}", "", k.source), color) << "\n";
  }
  out << "\n";
}

nlohmann::ordered_json recipe_json(const Estimate& est) {
  if (!est.inputs.recipe) return nullptr;
  const AppliedRecipe& r = *est.inputs.recipe;
  return {{"name", r.name}, {"framework", r.framework}, {"set", knobs_json(r.set)}, {"overridden", knobs_json(r.overridden)}};
}

void render_recipes(std::ostream& out, const std::vector<Recipe>& recipes, const OutputOptions& view) {
  if (view.format == Format::kJson) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& r : recipes) {
      j.push_back({{"name", r.name}, {"framework", r.framework}, {"summary", r.summary}, {"knobs", knobs_json(r.knobs)}});
    }
    out << j.dump(2) << "\n";
    return;
  }
  if (view.format == Format::kCsv) {
    out << "name,framework,summary\n";
    for (const auto& r : recipes) out << fmt::format("{},{},{}\n", csv_field(r.name), csv_field(r.framework), csv_field(r.summary));
    return;
  }
  for (const auto& r : recipes) {
    out << style_bold(fmt::format("{} — {}", r.name, r.framework), view.color) << "\n" << r.summary << "\n";
    for (const auto& k : r.knobs) out << fmt::format("  {:<30} {}\n  {:<30} source: {}\n", knob_text(k), k.why, "", k.source);
    out << "\n";
  }
  if (recipes.empty()) out << "no recipes are built in\n";
}

}  // namespace vramcalc::cli
