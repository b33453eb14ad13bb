// HSDP (--dp-replicate, src/core/layout/hsdp.cpp) and FSDP2 CPU offload (--fsdp-offload,
// src/core/layout/fsdp2_offload.cpp): bytes derived by hand from torch/distributed/fsdp/_fully_shard.
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

using fixtures::moment_at;

EstimateInputs hsdp_inputs(std::uint64_t gpus, std::uint64_t replicate) {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.setup.seq_len = 8192;
  in.setup.precision = Precision::kMixed;
  in.layout.gpus = gpus;
  in.layout.gpus_per_node = 8;
  in.layout.fsdp.version = 2;
  in.layout.fsdp.replicate = replicate;
  in.with_advice = false;
  return in;
}

constexpr std::uint64_t kP = 8'030'261'248;    // Llama 3.1 8B; every d0 divides by 8
constexpr std::uint64_t kBlock = 218'112'000;  // one decoder block

template <typename F>
void check_error(F&& f, const char* field_id) {
  try {
    f();
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == field_id);
  }
}

}  // namespace

TEST_CASE("HSDP shards over data-parallel / R ranks: 16 GPUs, 2 replicas hold what 8-way FSDP2 holds", "[hsdp]") {
  const Estimate hsdp = estimate(hsdp_inputs(16, 2));
  const Estimate fsdp8 = estimate(hsdp_inputs(8, 1));
  CHECK(hsdp.find(ComponentId::kWeights)->size_bytes == kP / 8 * 4);
  CHECK(hsdp.find(ComponentId::kGradients)->size_bytes == kP / 8 * 4);
  CHECK(hsdp.find(ComponentId::kOptimizerStates)->size_bytes == kP / 8 * 8);
  // fp32 reduce over fp32 storage: the sharded gradients are views into the all-reduced buffer
  CHECK(hsdp.find(ComponentId::kHsdpAllReduce) == nullptr);
  CHECK(hsdp.peak_allocated == fsdp8.peak_allocated);
  // more replicas at the same rank count: fewer shards, more bytes each
  CHECK(estimate(hsdp_inputs(16, 4)).find(ComponentId::kWeights)->size_bytes == kP / 4 * 4);
}

TEST_CASE("HSDP with a bf16 reduce over fp32 storage keeps each block's bf16 all-reduce buffer to the end of backward", "[hsdp]") {
  EstimateInputs in = hsdp_inputs(16, 2);
  in.layout.fsdp.reduce_dtype_bytes = 2;
  const Estimate est = estimate(in);
  CHECK(moment_at(est, Instant::kBackwardEnd).bytes_of(ComponentId::kHsdpAllReduce) == 32 * (kBlock / 8) * 2);
  CHECK(moment_at(est, Instant::kBackwardFirstMlp).bytes_of(ComponentId::kHsdpAllReduce) == 31 * (kBlock / 8) * 2);
  CHECK(moment_at(est, Instant::kBackwardLastMlp).bytes_of(ComponentId::kHsdpAllReduce) == 0);
  // plain FSDP2 frees the bf16 output after its cast
  in.layout.fsdp.replicate = 1;
  in.layout.gpus = 8;
  CHECK(moment_at(estimate(in), Instant::kBackwardEnd).bytes_of(ComponentId::kHsdpAllReduce) == 0);
}

TEST_CASE("HSDP: R must divide the data-parallel ranks and needs FSDP2", "[hsdp]") {
  check_error([] { (void)estimate(hsdp_inputs(16, 3)); }, field::kDpReplicate);
  check_error([] { (void)estimate(hsdp_inputs(16, 0)); }, field::kDpReplicate);
  EstimateInputs off = hsdp_inputs(16, 2);
  off.layout.fsdp.version = 0;
  check_error([&] { (void)estimate(off); }, field::kDpReplicate);
  // tp 2 leaves 8 data-parallel ranks: R 8 is fine (one shard each), R 16 is not
  EstimateInputs tp = hsdp_inputs(16, 16);
  tp.layout.tp = 2;
  check_error([&] { (void)estimate(tp); }, field::kDpReplicate);
  tp.layout.fsdp.replicate = 8;
  CHECK_NOTHROW(estimate(tp));
}

TEST_CASE("FSDP2 CPU offload: no sharded state on the GPU, params + grads pinned and states in host RAM", "[fsdp][offload]") {
  EstimateInputs in = hsdp_inputs(8, 1);
  const Estimate on_gpu = estimate(in);
  in.layout.fsdp.cpu_offload = true;
  const Estimate off = estimate(in);
  CHECK(off.find(ComponentId::kWeights)->size_bytes == 0);
  CHECK(off.find(ComponentId::kGradients)->size_bytes == 0);
  CHECK(off.find(ComponentId::kOptimizerStates)->size_bytes == 0);
  const Phase* step = off.phase(PhaseId::kOptimizerStep);
  REQUIRE(step != nullptr);
  CHECK(step->bytes_of(ComponentId::kOptimizerStepTemp) == 0);
  // the gathered root and blocks stay on the GPU as without offload
  CHECK(moment_at(off, Instant::kForwardLoss).bytes_of(ComponentId::kGatheredParams) ==
        moment_at(on_gpu, Instant::kForwardLoss).bytes_of(ComponentId::kGatheredParams));
  CHECK(moment_at(off, Instant::kBackwardEnd).bytes_of(ComponentId::kGradients) == 0);
  // host per rank: fp32 shard params 4 + grads 4 + AdamW states 8 + foreach step temp 4 B per shard element
  const std::uint64_t shard = kP / 8;
  CHECK(off.host.offloaded_params.bytes == shard * 4);
  CHECK(off.host.offloaded_optimizer.bytes == shard * (4 + 8 + 4));
  CHECK(off.host.ram_per_rank == shard * 20);
  CHECK(off.host.ram_per_node == shard * 20 * 8);
  CHECK(off.host.pinned_per_node == shard * 8 * 8);
  CHECK(on_gpu.host.ram_per_rank == 0);
  // the peak (loss backward; zero_grad(set_to_none) freed the gradients) drops by the fp32 shard
  // parameters and AdamW states: 12 B per shard element
  CHECK(on_gpu.peak_allocated - off.peak_allocated == shard * 12);
}

TEST_CASE("FSDP2 CPU offload needs FSDP2; apply_change sets the HSDP and offload fields", "[fsdp][offload]") {
  EstimateInputs in = hsdp_inputs(8, 1);
  in.layout.fsdp.version = 0;
  in.layout.fsdp.cpu_offload = true;
  check_error([&] { (void)estimate(in); }, field::kFsdpOffload);
  EstimateInputs c;
  apply_change(c, {field::kDpReplicate, "4"});
  apply_change(c, {field::kFsdpOffload, "true"});
  CHECK(c.layout.fsdp.replicate == 4);
  CHECK(c.layout.fsdp.cpu_offload);
  CHECK_THROWS_AS(apply_change(c, {field::kDpReplicate, "0"}), InputError);
}
