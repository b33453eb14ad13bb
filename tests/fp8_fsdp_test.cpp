// FSDP2's float8 all-gather (--fp8-all-gather, src/core/layout/fsdp2_fp8.cpp): hand-derived bytes of
// Llama-3.1-8B on 8 ranks (torchtitan's MixedPrecisionPolicy(bf16, fp32)), with and without it.
// Derived from torchao 0.18 float8/fsdp_utils.py and torch's _fully_shard code; the CPU records of FINDINGS §38 measure it.
#include <catch2/catch.hpp>

#include <vramcalc/error.hpp>
#include <vramcalc/vramcalc.hpp>

#include "core/layout/fsdp2.hpp"
#include "core/ops_fp8.hpp"

using namespace vramcalc;

namespace {

constexpr std::uint64_t kBlock = 218'112'000;        // one decoder block (every d0 divides by 8: no padding)
constexpr std::uint64_t kBlockLinear = 218'103'808;  // its seven Linears: 4096·(4096+2·1024+4096) + 3·4096·14336
constexpr std::uint64_t kBlockNorms = 2 * 4096;
constexpr std::uint64_t kEmbed = 128'256ULL * 4096;  // = lm_head
constexpr std::uint64_t kRoot = 2 * kEmbed + 4096;   // embedding + lm_head + final norm
constexpr std::uint64_t kMlp = 14'336ULL * 4096;     // the largest Linear (gate / up / down)

EstimateInputs titan_fp8(bool all_gather) {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.setup.seq_len = 8192;
  in.setup.precision = Precision::kMixed;
  in.setup.grad_ckpt = GradCkpt::kFull;
  in.setup.fp8 = Fp8Recipe::kTensorwise;
  in.layout.gpus = 8;
  in.layout.gpus_per_node = 8;
  in.layout.fsdp.version = 2;
  in.layout.fsdp.param_dtype_bytes = 2;
  in.layout.fsdp.reduce_dtype_bytes = 4;
  in.layout.fsdp.fp8_all_gather = all_gather;
  in.with_advice = false;
  return in;
}

const Moment& moment_at(const Estimate& est, Instant i) {
  for (const auto& m : est.timeline) {
    if (m.instant == i) return m;
  }
  FAIL("no moment");
  return est.timeline.front();
}

Bytes pool(const EstimateInputs& in) {
  const ParameterCounts params = count_parameters(in.model);
  const StepContext ctx{in.model, params, in.setup, in.layout};
  return fsdp_all_gather_pool(fsdp_bytes(in.layout.fsdp, in.setup.precision), fsdp_groups(ctx), 8);
}

}  // namespace

TEST_CASE("fp8 all-gather: Llama-3.1-8B's Float8Linear weights are gathered at 1 B, norms and embedding at bf16", "[fp8][fsdp]") {
  REQUIRE(kBlockLinear + kBlockNorms == kBlock);
  const Estimate off = estimate(titan_fp8(false));
  const Estimate on = estimate(titan_fp8(true));
  // The root (embedding bf16, final norm bf16, lm_head fp8 + its 4 B scale) and two blocks (7 fp8
  // weights + 7 scales, 2 norms bf16 each) at the last block's backward.
  const std::uint64_t root_on = (kEmbed + 4096) * 2 + kEmbed + 4;
  const std::uint64_t block_on = kBlockLinear + kBlockNorms * 2 + 7 * 4;
  CHECK(root_on == 1'576'017'924);
  CHECK(block_on == 218'120'220);
  const Moment& m_off = moment_at(off, Instant::kBackwardLastMlp);
  const Moment& m_on = moment_at(on, Instant::kBackwardLastMlp);
  CHECK(m_off.bytes_of(ComponentId::kGatheredParams) == (kRoot + 2 * kBlock) * 2);
  CHECK(m_on.bytes_of(ComponentId::kGatheredParams) == root_on + 2 * block_on);
  // The parked flat all-gather output of the last block (no scales: they are metadata, not gathered).
  CHECK(moment_at(off, Instant::kForwardLoss).bytes_of(ComponentId::kAllGatherBuffer) == kBlock * 2);
  CHECK(moment_at(on, Instant::kForwardLoss).bytes_of(ComponentId::kAllGatherBuffer) == kBlockLinear + kBlockNorms * 2);
  // Gradients stay bf16 (param_dtype): the unsharded gradients and the sharded states do not change.
  CHECK(m_on.bytes_of(ComponentId::kGatheredGrad) == m_off.bytes_of(ComponentId::kGatheredGrad));
  CHECK(on.find(ComponentId::kWeights)->size_bytes == off.find(ComponentId::kWeights)->size_bytes);
  CHECK(on.find(ComponentId::kOptimizerStates)->size_bytes == off.find(ComponentId::kOptimizerStates)->size_bytes);
}

TEST_CASE("fp8 all-gather: the all-gather stream pool holds the fp8 pair and the next block's fp8 shards", "[fp8][fsdp]") {
  // Without: the root's and a block's flat bf16 outputs.
  CHECK(pool(titan_fp8(false)) == (kRoot + kBlock) * 2);
  CHECK(pool(titan_fp8(false)) == 2'537'578'496);
  // With: root flat 1,576,017,920 + block 0's fp8 shards 218,103,808 / 8 + max(its cast in flight
  // 8 · 14336·4096 / 8, its flat output 218,120,192); the root's own all-gather (65,667,072 +
  // 1,576,017,920) is smaller.
  const std::uint64_t root_flat = (kEmbed + 4096) * 2 + kEmbed;
  const std::uint64_t block_flat = kBlockLinear + kBlockNorms * 2;
  REQUIRE(8 * (kMlp / 8) < block_flat);
  CHECK(pool(titan_fp8(true)) == root_flat + kBlockLinear / 8 + block_flat);
  CHECK(pool(titan_fp8(true)) == 1'821'401'088);
}

TEST_CASE("fp8 all-gather: the Float8Linear forward and backward no longer cast the weight", "[fp8][fsdp]") {
  const Bytes T = 8192, i = T * 4096, w = kMlp, o = T * 14'336;
  const Fp8Linear plain{.tokens = T, .d_in = 4096, .d_out = 14'336, .el = 2};
  Fp8Linear gathered = plain;
  gathered.weight_fp8 = true;
  // forward: only the input's cast (9·i + 4) and its fp8 (i + 4) beside the gathered weight
  CHECK(fp8_forward_peak(gathered, Fp8Recipe::kTensorwise) == 9 * i + 4);
  CHECK(fp8_forward_peak(plain, Fp8Recipe::kTensorwise) == std::max(9 * i + 4, (i + 4) + 9 * w + 4));
  // backward: without the weight's fp8 (w + 4) held beside the grad_output casts, and no 9·w cast
  const Bytes go0 = o + 4, gi = 2 * i, go1 = o + 4, in1 = i + 4;
  const Bytes last = go0 + gi + go1 + in1 + o + i + 2 * w;  // the grad_weight gemm: copies + grad_weight
  CHECK(fp8_backward_peak(gathered, Fp8Recipe::kTensorwise, true) ==
        std::max({9 * o + 4, go0 + w + gi, go0 + gi + 9 * o + 4, go0 + gi + go1 + 9 * i + 4, last}));
  CHECK(fp8_backward_peak(plain, Fp8Recipe::kTensorwise, true) - fp8_backward_peak(gathered, Fp8Recipe::kTensorwise, true) == w + 4);
}

TEST_CASE("fp8 all-gather: refused without FSDP2 tensorwise float8", "[fp8][fsdp]") {
  const auto refused = [](EstimateInputs in, const std::string& text) {
    try {
      (void)estimate(in);
    } catch (const InputError& e) {
      CHECK(e.field() == std::string(field::kFp8AllGather));
      CHECK_THAT(e.problem(), Catch::Contains(text));
      return;
    }
    FAIL("not refused: " << text);
  };
  EstimateInputs rowwise = titan_fp8(true);
  rowwise.setup.fp8 = Fp8Recipe::kRowwise;
  refused(rowwise, "tensorwise scaling only");
  EstimateInputs none = titan_fp8(true);
  none.setup.fp8 = Fp8Recipe::kNone;
  refused(none, "needs --fp8 tensorwise");
  EstimateInputs zero3 = titan_fp8(true);
  zero3.layout.fsdp.version = 0;
  zero3.layout.fsdp.param_dtype_bytes.reset();
  zero3.layout.fsdp.reduce_dtype_bytes.reset();
  refused(zero3, "needs --fsdp 2");
}

TEST_CASE("fp8 all-gather: --fp8-all-gather on|off on the command line", "[fp8][fsdp][cli]") {
  EstimateInputs in = titan_fp8(false);
  apply_change(in, {field::kFp8AllGather, "on"});
  CHECK(in.layout.fsdp.fp8_all_gather);
  apply_change(in, {field::kFp8AllGather, "off"});
  CHECK_FALSE(in.layout.fsdp.fp8_all_gather);
  CHECK_THROWS_AS(apply_change(in, {field::kFp8AllGather, "yes"}), InputError);
}

TEST_CASE("fp8 all-gather: the planner's ZeRO, FSDP1 and FSDP2+offload layouts set it off, FSDP2 keeps it", "[fp8][fsdp][plan]") {
  EstimateInputs in = titan_fp8(true);
  in.layout.fsdp.param_dtype_bytes.reset();  // mixed's defaults (bf16, fp32): an explicit policy would refuse ZeRO
  in.layout.fsdp.reduce_dtype_bytes.reset();
  in.gpu = find_gpu("h100-80gb");
  const Plan p = plan(in);
  REQUIRE(p.min_gpus.size() == plan_layouts().size());
  for (const LayoutFit& f : p.min_gpus) {
    INFO(f.layout.name);
    const EstimateInputs applied = with_changes(in, f.layout.changes);
    // Only plain FSDP2 runs torchao's float8 all-gather; every other layout is offered with it off
    // (with it on they were refused by validate_fp8_all_gather and listed as fitting nowhere).
    CHECK(applied.layout.fsdp.fp8_all_gather == (f.layout.name == "fsdp2"));
    if (f.layout.name == "zero3" || f.layout.name == "fsdp2") {
      REQUIRE(f.gpus.has_value());
      EstimateInputs at = applied;
      at.layout.gpus = *f.gpus;
      CHECK(f.device_total == estimate(at).device_total);
    }
  }
}

TEST_CASE("fp8 all-gather: at lm_head's backward FSDP2 holds the root re-gathered and the prefetched last block", "[fp8][fsdp]") {
  // The 2-rank CPU pair of FINDINGS §38 (torch 2.15 + torchao 0.18): at lm_head's backward peak the
  // allocator holds the root's unsharded parameters (FSDP::pre_backward all_gather_copy_out) and
  // model.layers.1's flat all-gather output (backward_prefetch), as at the loss backward.
  for (const bool on : {false, true}) {
    const Estimate est = estimate(titan_fp8(on));
    const auto gathered = [&](Instant i) { return moment_at(est, i).bytes_of(ComponentId::kGatheredParams); };
    CHECK(gathered(Instant::kBackwardHead) == gathered(Instant::kBackwardLoss));
    CHECK(gathered(Instant::kBackwardHead) > 0);
  }
}
