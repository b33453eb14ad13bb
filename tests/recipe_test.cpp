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

TEST_CASE("the LoRA recipes reproduce their frameworks' default adapters and bytes", "[recipe][lora]") {
  // peft: LoraConfig() on Llama-3-8B → print_trainable_parameters "3,407,872" (r 8 on q_proj,v_proj),
  // fp32 adapters, bf16 base (from_pretrained dtype "auto"), batch 8.
  EstimateInputs p = llama_8b();
  p.model = resolve_model("llama-3-8b");
  apply_recipe(p, find_recipe("peft"), {});
  const ParameterCounts pp = count_parameters(p.model, p.setup.lora);
  CHECK(pp.trainable == 3'407'872);
  CHECK(p.setup.precision == Precision::kBf16);
  CHECK(p.setup.micro_batch == 8);
  CHECK(stored_weight_bytes(pp, 2, p.setup.lora) == 2 * 8'030'261'248ULL + 4 * 3'407'872ULL);
  // torchtune 8B_qlora_single_device on Llama-3.1-8B: r 8 on the 7 Linears of 32 layers =
  // 32 · 8 · (8,192 + 5,120 + 5,120 + 8,192 + 3 · 18,432) = 20,971,520 bf16 adapters; the 224
  // Linears NF4+DQ (3,600,661,376 B), embeddings, lm_head and norms bf16 (no upcast).
  EstimateInputs t = llama_8b();
  t.model = resolve_model("llama-3.1-8b");
  apply_recipe(t, find_recipe("torchtune"), {});
  const ParameterCounts tp = count_parameters(t.model, t.setup.lora);
  CHECK(tp.trainable == 20'971'520);
  CHECK(stored_weight_bytes(tp, 2, t.setup.lora) == 3'600'661'376ULL + 2 * 1'050'939'392ULL + 2 * 20'971'520ULL);
  CHECK(t.setup.grad_ckpt == GradCkpt::kFull);
  CHECK(t.setup.loss == LossImpl::kChunked);
  CHECK(t.setup.micro_batch == 2);
  // litgpt finetune lora on Llama-2-7B: r 8 on query and value → 4,194,304 bf16 adapters, dropout 0.05.
  EstimateInputs l = llama_8b();
  l.model = resolve_model("llama-2-7b");
  apply_recipe(l, find_recipe("litgpt"), {});
  CHECK(count_parameters(l.model, l.setup.lora).trainable == 4'194'304);
  CHECK(l.setup.lora.adapter_bytes == 2);
  CHECK(l.setup.lora.dropout == 0.05);
  CHECK(l.setup.micro_batch == 4);
  // A field the user set wins: the peft recipe under --lora-rank 16 keeps r 16.
  EstimateInputs u = llama_8b();
  u.setup.lora.rank = 16;
  const AppliedRecipe a = apply_recipe(u, find_recipe("peft"), {field::kLoraRank});
  CHECK(u.setup.lora.rank == 16);
  REQUIRE(a.overridden.size() == 1);
  CHECK(a.overridden[0].field == field::kLoraRank);
}
