// Expert parallelism and expert routing: per-rank bytes derived by hand from the published
// Mixtral-8x7B counts, Megatron's capacity rule, properties (ep 1 changes nothing, more expert-
// parallel ranks never hold more expert bytes) and the combinations rejected.
#include <catch2/catch.hpp>

#include <vramcalc/moe_routing.hpp>
#include <vramcalc/vramcalc.hpp>

#include "cli_run.hpp"

using namespace vramcalc;

namespace {

// Mixtral-8x7B: 46,702,792,704 parameters, of which 32 layers × 8 experts × 3 × 4096 × 14336 =
// 45,097,156,608 routed (moe_test.cpp checks both against the published figures).
constexpr std::uint64_t kTotal = 46'702'792'704;
constexpr std::uint64_t kRouted = 45'097'156'608;
constexpr std::uint64_t kDense = kTotal - kRouted;

EstimateInputs mixtral(std::uint64_t gpus, std::uint64_t ep, int zero = 0) {
  EstimateInputs in;
  in.model = resolve_model("mixtral-8x7b");
  in.setup.seq_len = 4096;
  in.setup.precision = Precision::kBf16;
  in.layout.gpus = gpus;
  in.layout.ep = ep;
  if (zero > 0) in.layout.zero = default_zero_settings(zero, in.model.hidden_size, true);
  in.with_advice = false;
  return in;
}

Bytes component(const Estimate& e, ComponentId id) {
  const auto* c = e.find(id);
  return c ? c->size_bytes : 0;
}

std::string error_field(const EstimateInputs& in) {
  try {
    (void)estimate(in);
  } catch (const InputError& e) {
    return e.field();
  }
  return "";
}

}  // namespace

TEST_CASE("EP 8 without sharding: a rank holds the dense parts and one expert per layer", "[ep]") {
  const Estimate e = estimate(mixtral(8, 8));
  CHECK(component(e, ComponentId::kWeights) == (kDense + kRouted / 8) * 2);  // 14,485,561,344 B
  CHECK(component(e, ComponentId::kWeights) == 14'485'561'344);
  REQUIRE(e.roles.size() == 1);
  CHECK(e.roles.front().parameters == kDense + kRouted / 8);
}

TEST_CASE("EP under ZeRO: sharded states cover E/ep experts over dp/ep ranks, whole states E/ep experts", "[ep]") {
  // ZeRO-3 over 8 ranks, ep 8: every state sharded; the experts' E/8 over 1 expert-data-parallel
  // rank equal all E over 8: the same bytes as without expert parallelism.
  const Estimate z3 = estimate(mixtral(8, 8, 3));
  CHECK(component(z3, ComponentId::kWeights) == (kTotal + 7) / 8 * 2);  // 11,675,698,176 B
  CHECK(component(z3, ComponentId::kWeights) == component(estimate(mixtral(8, 1, 3)), ComponentId::kWeights));
  // ZeRO-1 over 16 ranks, ep 4: weights whole (dense + E/4 experts), optimizer states over 16.
  const Estimate z1 = estimate(mixtral(16, 4, 1));
  CHECK(component(z1, ComponentId::kWeights) == (kDense + kRouted / 4) * 2);  // 25,759,850,496 B
  CHECK(component(z1, ComponentId::kOptimizerStates) == component(estimate(mixtral(16, 1, 1)), ComponentId::kOptimizerStates));
}

TEST_CASE("expert rows: Megatron get_capacity, dropping, padding and the most loaded rank", "[ep][routing]") {
  MoeRouting r;
  CHECK(expert_rows(4096, 2, 8, r).rows == 8192);  // one rank: every routed copy local
  r.capacity_factor = 1.25;  // capacity = ceil(8192 / 8 × 1.25) = 1280
  CHECK(expert_rows(4096, 2, 8, r).rows == 8192);  // drops none: 8 × 1280 ≥ 8192
  CHECK(expert_rows(4096, 2, 8, r).capacity == 1280);
  r.pad_to_capacity = true;
  CHECK(expert_rows(4096, 2, 8, r).rows == 8 * 1280);
  r.pad_to_capacity = false;
  r.capacity_factor = 0.5;  // capacity 512: at most 8 × 512 rows
  CHECK(expert_rows(4096, 2, 8, r).rows == 4096);
  MoeRouting ep;
  ep.ep = 8;
  CHECK(expert_rows(4096, 2, 8, ep).rows == 13763);  // ⌈1.68 × 8192⌉ (default imbalance)
  CHECK(expert_rows(4096, 2, 8, ep, false).rows == 8192);  // the mean over layers
  ep.imbalance = 10.0;
  CHECK(expert_rows(4096, 2, 8, ep).rows == 8 * 4096);  // at most each rank's T tokens once per local expert
}

TEST_CASE("EP all-to-all buffers: the sent T·k copies and the received rows of one MoE layer", "[ep]") {
  EstimateInputs in = mixtral(8, 8);
  in.setup.moe.imbalance = 1.0;
  CHECK(component(estimate(in), ComponentId::kEpAllToAll) == 2ULL * (8192 + 8192) * 4096);
  CHECK(component(estimate(mixtral(8, 8)), ComponentId::kEpAllToAll) == 2ULL * (8192 + 13763) * 4096);
}

TEST_CASE("ep 1 changes nothing; more expert-parallel ranks never hold more expert bytes", "[ep][property]") {
  const Estimate base = estimate(mixtral(8, 1));
  CHECK(base.roles.empty());
  Bytes last = component(base, ComponentId::kWeights);
  for (std::uint64_t ep : {2, 4, 8}) {
    EstimateInputs in = mixtral(8, ep);
    in.setup.moe.imbalance = 1.0;
    const Estimate e = estimate(in);
    CHECK(component(e, ComponentId::kWeights) < last);
    CHECK(component(e, ComponentId::kWeights) == (kDense + kRouted / ep) * 2);
    // balanced routing: the saved activations are those of one rank without expert parallelism
    CHECK(e.activations.per_layer <= base.activations.per_layer);
    last = component(e, ComponentId::kWeights);
  }
}

TEST_CASE("inconsistent expert-parallel and routing settings are input errors", "[ep][errors]") {
  CHECK(error_field(mixtral(6, 3)) == field::kEp);   // 3 does not divide 8 experts
  CHECK(error_field(mixtral(4, 8)) == field::kEp);   // 8 does not divide 4 data-parallel ranks
  EstimateInputs tp = mixtral(4, 2);
  tp.layout.tp = 2;
  CHECK(error_field(tp) == field::kEp);  // expert tensor parallelism not modelled
  EstimateInputs dense = mixtral(2, 2);
  dense.model = resolve_model("llama-3-8b");
  CHECK(error_field(dense) == field::kEp);
  EstimateInputs low = mixtral(1, 1);
  low.setup.moe.imbalance = 0.5;
  CHECK(error_field(low) == field::kMoeImbalance);
  EstimateInputs pad = mixtral(1, 1);
  pad.setup.moe.pad_to_capacity = true;
  CHECK(error_field(pad) == field::kMoePadToCapacity);
  EstimateInputs cap = mixtral(1, 1);
  cap.setup.moe.capacity_factor = 0.0;
  CHECK(error_field(cap) == field::kMoeCapacityFactor);
  const auto bad = vramcalc_test::run_vramcalc("--model mixtral-8x7b --gpus 6 --ep 3");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--ep: '3'") != std::string::npos);
  const auto ok = vramcalc_test::run_vramcalc("--model mixtral-8x7b --gpus 8 --ep 8 --moe-capacity-factor 1.25 --format json");
  CHECK(ok.code == 0);
  CHECK(ok.out.find("ep_all_to_all") != std::string::npos);
}
