// Recipes: knobs set what the user did not, user settings win, names are checked, and the
// built-in recipes only name fields that apply_change accepts with values it accepts.
#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

EstimateInputs llama_8b() {
  EstimateInputs in;
  in.model = resolve_model("llama-8b");
  in.with_advice = false;
  return in;
}

Recipe two_knobs() {
  return {"test", "a test framework", "two knobs",
          {{field::kOptimizer, "adamw-fused", "fused AdamW", "test"}, {field::kGradCkpt, "full", "checkpoints", "test"}}};
}

}  // namespace

TEST_CASE("a recipe sets the fields the user did not set", "[recipe]") {
  EstimateInputs in = llama_8b();
  const AppliedRecipe a = apply_recipe(in, two_knobs(), {});
  CHECK(in.setup.optimizer == Optimizer::kAdamWFused);
  CHECK(in.setup.grad_ckpt == GradCkpt::kFull);
  CHECK(a.set.size() == 2);
  CHECK(a.overridden.empty());
  REQUIRE(in.recipe.has_value());
  CHECK(in.recipe->name == "test");
}

TEST_CASE("a field the user set keeps the user's value", "[recipe]") {
  EstimateInputs in = llama_8b();
  in.setup.grad_ckpt = GradCkpt::kSelective;
  const AppliedRecipe a = apply_recipe(in, two_knobs(), {field::kGradCkpt});
  CHECK(in.setup.grad_ckpt == GradCkpt::kSelective);
  CHECK(in.setup.optimizer == Optimizer::kAdamWFused);
  REQUIRE(a.overridden.size() == 1);
  CHECK(a.overridden[0].field == field::kGradCkpt);
}

TEST_CASE("an unknown recipe is an input error naming it", "[recipe]") {
  try {
    (void)find_recipe("no-such-framework");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kRecipe);
    CHECK(e.value() == "no-such-framework");
  }
}

TEST_CASE("every built-in recipe applies cleanly and cites its sources", "[recipe]") {
  for (const Recipe& r : builtin_recipes()) {
    INFO(r.name);
    CHECK(&find_recipe(r.name) == &r);
    CHECK_FALSE(r.framework.empty());
    for (const RecipeKnob& k : r.knobs) {
      INFO(k.field << " = " << k.value);
      CHECK_FALSE(k.why.empty());
      CHECK_FALSE(k.source.empty());
    }
    EstimateInputs in = llama_8b();
    const AppliedRecipe a = apply_recipe(in, r, {});
    CHECK(a.set.size() == r.knobs.size());
    CHECK(estimate(in).peak_allocated > 0);
  }
}
