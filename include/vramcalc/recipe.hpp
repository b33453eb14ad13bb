#pragma once
/// Framework recipes: named bundles of input settings ("knobs") that reproduce what one
/// framework's code allocates by default (PEFT, torchtune, torchtitan, Megatron, ...). A recipe
/// only sets fields the user did not set; every knob says why and cites the code path.

#include <string>
#include <string_view>
#include <vector>

namespace vramcalc {

struct EstimateInputs;  // vramcalc/estimate.hpp, which carries an AppliedRecipe

/// One setting of a recipe: a field id (vramcalc/error.hpp, namespace field) and its value as
/// apply_change (vramcalc/change.hpp) takes it.
struct RecipeKnob {
  std::string field;
  std::string value;
  std::string why;     ///< what the framework does, in one line
  std::string source;  ///< code path (repository, file, function) or documentation
};

struct Recipe {
  std::string name;       ///< as typed: "peft", "torchtitan"
  std::string framework;  ///< the framework and the version its code was read at
  std::string summary;    ///< one line
  std::vector<RecipeKnob> knobs;
};

/// What applying a recipe did: the knobs it set, and those the user's own settings overrode.
struct AppliedRecipe {
  std::string name;
  std::string framework;
  std::vector<RecipeKnob> set;
  std::vector<RecipeKnob> overridden;
};

/// Every built-in recipe, in the order `vramcalc recipes` lists them.
const std::vector<Recipe>& builtin_recipes();
/// The recipe called `name`; InputError(field::kRecipe, name) listing the known names.
const Recipe& find_recipe(std::string_view name);
/// Applies `recipe`'s knobs to `inputs` in order, skipping fields in `user_fields` (settings the
/// user gave); records the result in `inputs.recipe` and returns it.
AppliedRecipe apply_recipe(EstimateInputs& inputs, const Recipe& recipe, const std::vector<std::string>& user_fields);

}  // namespace vramcalc
