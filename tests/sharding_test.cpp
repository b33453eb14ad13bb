// ZeRO layouts per rank: the memo's 4-pod ZeRO-3 scenario, sharding properties, loading.
#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

EstimateInputs memo_inputs(int stage, std::uint64_t gpus) {
  EstimateInputs in;
  in.model = resolve_model("llama-8b");
  in.setup.seq_len = 8192;
  in.layout.gpus = gpus;
  in.layout.gpus_per_node = 1;  // one GPU per pod
  in.layout.zero = default_zero_settings(stage, in.model.hidden_size, true);
  in.layout.zero.zero3_init = stage == 3;
  in.layout.interconnect = Interconnect::kEfa;
  in.with_advice = false;
  return in;
}

Bytes max_of(const Estimate& est, ComponentId id) {
  const Component* c = est.find(id);
  return c ? c->max_bytes : 0;
}

Bytes size_of(const Estimate& est, ComponentId id) {
  const Component* c = est.find(id);
  return c ? c->size_bytes : 0;
}

const Phase& phase_named(const Estimate& est, const std::string& name) {
  const Phase* p = est.phase(name);
  REQUIRE(p != nullptr);
  return *p;
}

constexpr std::uint64_t kP = 8'030'261'248;
constexpr std::uint64_t kQuarter = kP / 4;  // 2,007,565,312: P divides by 4

}  // namespace

TEST_CASE("the memo's scenario: llama-8b, ZeRO-3 over 4 pods with one GPU each", "[zero]") {
  const Estimate one = estimate(memo_inputs(0, 1));
  const Estimate four = estimate(memo_inputs(3, 4));
  SECTION("parameters, gradients and optimizer states are a quarter of one GPU's") {
    CHECK(max_of(four, ComponentId::kWeights) == kQuarter * 2);
    CHECK(max_of(four, ComponentId::kGradients) == kQuarter * 2);
    CHECK(max_of(four, ComponentId::kMasterWeights) == kQuarter * 4);
    CHECK(max_of(four, ComponentId::kOptimizerStates) == kQuarter * 8);
    CHECK(max_of(four, ComponentId::kWeights) * 4 == max_of(one, ComponentId::kWeights));
    CHECK(max_of(four, ComponentId::kOptimizerStates) * 4 == max_of(one, ComponentId::kOptimizerStates));
  }
  SECTION("what is not sharded appears as its own lines") {
    // Largest module (embedding / lm_head, 128256 × 4096) gathered, plus HF-auto prefetch 0.9·h².
    CHECK(size_of(four, ComponentId::kGatheredParams) == (525'336'576ULL + 15'099'494) * 2);
    CHECK(size_of(four, ComponentId::kGatheredGrad) == 525'336'576ULL * 2);
    CHECK(max_of(four, ComponentId::kReduceBucket) == 4096ULL * 4096 * 2);  // HF "auto" reduce_bucket_size = h²
    CHECK(max_of(four, ComponentId::kPersistentParams) == (65ULL * 4096) * 2);  // 2 norms × 32 layers + final norm
    CHECK(size_of(four, ComponentId::kReduceScatterTemp) == 4096ULL * 4096 * 2);
    CHECK(four.non_pytorch > one.non_pytorch);                    // NCCL buffers
  }
  SECTION("activations and logits stay whole on every pod") {
    CHECK(max_of(four, ComponentId::kActivations) == max_of(one, ComponentId::kActivations));
    CHECK(max_of(four, ComponentId::kLogitsLoss) == max_of(one, ComponentId::kLogitsLoss));
  }
}

TEST_CASE("loading without zero.Init puts the whole model on every pod", "[zero][load]") {
  EstimateInputs in = memo_inputs(3, 4);
  in.layout.zero.zero3_init = false;
  const Estimate without = estimate(in);
  // Host RAM: the whole checkpoint (bf16 torch_dtype) per pod; GPU: the whole bf16 model
  // plus the partitions ZeRO-3 makes from it.
  CHECK(without.load.cpu_per_rank == kP * 2);
  CHECK(without.load.cpu_per_node == kP * 2);
  CHECK(phase_named(without, "load").allocated == kP * 2 + kQuarter * 2);
  in.layout.zero.zero3_init = true;
  const Estimate with = estimate(in);
  CHECK(with.load.cpu_per_rank < kP * 2);
  CHECK(phase_named(with, "load").allocated < kP * 2);
  CHECK(phase_named(with, "load").bytes_of(ComponentId::kWeights) == kQuarter * 2);
  in.load.dtype_bytes = 4;  // transformers v4 default: fp32
  in.layout.zero.zero3_init = false;
  CHECK(estimate(in).load.cpu_per_rank == kP * 4);
}

TEST_CASE("loading sets the peak when training needs less than the whole model", "[zero][load]") {
  EstimateInputs in = memo_inputs(3, 16);
  in.setup.seq_len = 512;
  in.setup.grad_ckpt = GradCkpt::kFull;
  in.setup.loss = LossImpl::kFused;
  in.layout.zero.zero3_init = false;
  in.with_advice = true;
  const Estimate est = estimate(in);
  CHECK(est.load_sets_peak());
  REQUIRE_FALSE(est.advice.empty());
  CHECK(est.advice.front().change.field == field::kZeroInit);
  CHECK_THAT(est.advice.front().what, Catch::Contains("zero.Init"));
  CHECK(est.advice.front().peak_after < est.advice.front().peak_before);
}

TEST_CASE("model states shrink stage by stage: ZeRO-3 <= 2 <= 1 <= 0", "[zero][property]") {
  for (std::uint64_t gpus : {2, 4, 8, 64}) {
    Bytes previous = ~Bytes{0};
    for (int stage : {0, 1, 2, 3}) {
      const Estimate est = estimate(memo_inputs(stage, gpus));
      Bytes states = 0;
      for (ComponentId n : {ComponentId::kWeights, ComponentId::kMasterWeights, ComponentId::kGradients, ComponentId::kOptimizerStates}) {
        states += max_of(est, n);
      }
      INFO("gpus " << gpus << " stage " << stage);
      CHECK(states <= previous);
      previous = states;
    }
  }
}

TEST_CASE("per-rank memory never grows with more ranks", "[zero][property]") {
  for (int stage : {0, 1, 2, 3}) {
    for (auto opt : {OffloadDevice::kNone, OffloadDevice::kCpu}) {
      if (stage == 0 && opt != OffloadDevice::kNone) continue;
      Bytes previous = ~Bytes{0};
      Bytes previous_step = ~Bytes{0};
      for (std::uint64_t gpus : {2, 4, 8, 16, 64}) {
        EstimateInputs in = memo_inputs(stage, gpus);
        in.layout.interconnect = Interconnect::kIb;
        in.layout.zero.offload_optimizer.device = opt;
        const Estimate est = estimate(in);
        INFO("stage " << stage << " gpus " << gpus);
        CHECK(est.peak_allocated <= previous);
        CHECK(phase_named(est, "optimizer_step").allocated <= previous_step);
        previous = est.peak_allocated;
        previous_step = phase_named(est, "optimizer_step").allocated;
      }
    }
  }
}

TEST_CASE("offload moves optimizer states and parameters to the host", "[zero][offload]") {
  EstimateInputs in = memo_inputs(3, 4);
  in.layout.zero.offload_optimizer.device = OffloadDevice::kCpu;
  const Estimate opt = estimate(in);
  CHECK(max_of(opt, ComponentId::kOptimizerStates) == 0);
  CHECK(max_of(opt, ComponentId::kMasterWeights) == 0);
  // Host: fp32 master 4 + fp32 grads 4 + Adam 8 bytes per parameter of this rank's partition.
  CHECK(opt.host.ram_per_rank == kQuarter * 16);
  CHECK(opt.host.pinned_per_node == kQuarter * 16);  // pin_memory is DeepSpeed's default
  in.layout.zero.offload_param.device = OffloadDevice::kCpu;
  const Estimate both = estimate(in);
  CHECK(max_of(both, ComponentId::kWeights) == 0);
  CHECK(both.host.ram_per_rank == kQuarter * 18);
  in.layout.zero.offload_param.device = OffloadDevice::kNvme;
  const Estimate nvme = estimate(in);
  CHECK(nvme.host.nvme.bytes == kQuarter * 2);
  in.cpu_memory_budget = 16 * kGiB;
  CHECK_FALSE(estimate(in).cpu_fits());
}

TEST_CASE("layouts DeepSpeed rejects are input errors", "[zero][errors]") {
  EstimateInputs in = memo_inputs(2, 4);
  in.layout.zero.offload_param.device = OffloadDevice::kCpu;
  CHECK_THROWS_WITH(estimate(in), Catch::StartsWith("layout.zero.offload_param.device: 'cpu': parameter offload needs ZeRO stage 3"));
  in = memo_inputs(0, 4);
  in.layout.zero.offload_optimizer.device = OffloadDevice::kCpu;
  CHECK_THROWS_WITH(estimate(in), Catch::StartsWith("layout.zero.offload_optimizer.device: 'cpu'"));
}

TEST_CASE("ZeRO-2 with overlap_comm double-buffers its reduce bucket", "[zero]") {
  EstimateInputs in = memo_inputs(2, 8);
  in.layout.zero = default_zero_settings(2, 4096, false);  // DeepSpeed defaults: 5e8-element buckets
  in.layout.zero.overlap_comm = true;
  CHECK(max_of(estimate(in), ComponentId::kReduceBucket) == 2ULL * 500'000'000 * 2);
  in.layout.zero.overlap_comm = false;
  CHECK(max_of(estimate(in), ComponentId::kReduceBucket) == 500'000'000ULL * 2);
}

TEST_CASE("ZeRO-1/2 allocate their reduce bucket on one GPU too, two with overlap_comm at either stage", "[zero]") {
  // stage_1_and_2.py process_gradients → setup_buckets: torch.empty(reduce_bucket_size, bf16), no
  // world-size test; buf_1 when overlap_comm (stage 1 as well); none without contiguous_gradients.
  for (int stage : {1, 2}) {
    EstimateInputs in = memo_inputs(stage, 1);
    in.layout.zero = default_zero_settings(stage, 4096, false);  // DeepSpeed defaults: 5e8-element buckets
    CHECK(max_of(estimate(in), ComponentId::kReduceBucket) == 500'000'000ULL * 2);
    in.layout.zero.overlap_comm = true;
    CHECK(max_of(estimate(in), ComponentId::kReduceBucket) == 2ULL * 500'000'000 * 2);
    in.layout.zero.contiguous_gradients = false;
    CHECK(max_of(estimate(in), ComponentId::kReduceBucket) == 0);
    in.layout.zero.offload_optimizer.device = OffloadDevice::kCpu;  // cpu_offload forces contiguous_gradients
    CHECK(max_of(estimate(in), ComponentId::kReduceBucket) == 2ULL * 500'000'000 * 2);
  }
  // Only while backward reduces: the step does not hold it.
  EstimateInputs in = memo_inputs(1, 1);
  in.layout.zero = default_zero_settings(1, 4096, false);
  const Estimate est = estimate(in);
  const Estimate none = estimate(memo_inputs(0, 1));
  CHECK(max_of(est, ComponentId::kReduceBucket) == 1'000'000'000ULL);
  CHECK(phase_named(est, "backward").allocated == phase_named(none, "backward").allocated + 1'000'000'000ULL);
  CHECK(phase_named(est, "optimizer_step").allocated == phase_named(none, "optimizer_step").allocated);
}
