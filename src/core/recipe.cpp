// Recipes: the registry of built-in recipes and how one is applied to the inputs.
#include <vramcalc/recipe.hpp>

#include <algorithm>

#include <vramcalc/change.hpp>
#include <vramcalc/error.hpp>

#include "recipes/recipes.hpp"

namespace vramcalc {
namespace {

using RecipeMaker = Recipe (*)();

// Every built-in recipe's function (src/core/recipes/), in listing order.
const std::vector<RecipeMaker>& recipe_makers() {
  static const std::vector<RecipeMaker> makers = {recipes::peft,       recipes::torchtune, recipes::litgpt,
                                                  recipes::hf_trainer, recipes::torchtitan, recipes::megatron,
                                                  recipes::accelerate_fsdp, recipes::deepspeed,
                                                  recipes::lightning};
  return makers;
}

}  // namespace

const std::vector<Recipe>& builtin_recipes() {
  static const std::vector<Recipe> all = [] {
    std::vector<Recipe> v;
    for (RecipeMaker make : recipe_makers()) v.push_back(make());
    return v;
  }();
  return all;
}

const Recipe& find_recipe(std::string_view name) {
  for (const Recipe& r : builtin_recipes()) {
    if (r.name == name) return r;
  }
  std::string known;
  for (const Recipe& r : builtin_recipes()) known += (known.empty() ? "" : ", ") + r.name;
  throw InputError(field::kRecipe, std::string(name),
                   known.empty() ? "unknown recipe; none is built in" : "unknown recipe; known: " + known);
}

AppliedRecipe apply_recipe(EstimateInputs& inputs, const Recipe& recipe, const std::vector<std::string>& user_fields) {
  AppliedRecipe applied{recipe.name, recipe.framework, {}, {}};
  for (const RecipeKnob& knob : recipe.knobs) {
    if (std::find(user_fields.begin(), user_fields.end(), knob.field) != user_fields.end()) {
      applied.overridden.push_back(knob);
      continue;
    }
    apply_change(inputs, Advice::Change{knob.field, knob.value});
    applied.set.push_back(knob);
  }
  inputs.recipe = applied;
  return applied;
}

}  // namespace vramcalc
