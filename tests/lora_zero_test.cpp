// LoRA / QLoRA under DDP and DeepSpeed ZeRO 1-3: per-rank bytes derived by hand.
// Llama-2-7B: 6,738,415,616 base parameters; r 8 on q_proj, v_proj: P_t = 4,194,304 fp32
// adapter parameters (PEFT's print_trainable_parameters). DeepSpeed partitions only what the
// optimizer's param groups hold (stage_1_and_2.py, stage3.py), ZeRO-3 every module parameter.
#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

constexpr Bytes kBase = 6'738'415'616;
constexpr Bytes kPt = 4'194'304;

EstimateInputs qv_inputs(int zero, std::uint64_t gpus, BaseQuant quant = BaseQuant::kNone) {
  EstimateInputs in;
  in.model = resolve_model("llama-2-7b");
  in.setup.precision = Precision::kBf16;
  in.setup.lora.rank = 8;
  in.setup.lora.targets = parse_lora_targets("q,v");
  in.setup.lora.base_quant = quant;
  in.setup.lora.kbit_upcast = false;
  in.layout.gpus = gpus;
  if (zero > 0) in.layout.zero = default_zero_settings(zero, in.model.hidden_size, true);
  in.with_advice = false;
  return in;
}

Bytes bytes_of(const Estimate& e, ComponentId id) {
  const Component* c = e.find(id);
  return c ? c->max_bytes : 0;
}

}  // namespace

TEST_CASE("LoRA under ZeRO-1/2 shards only the adapters' gradients and optimizer states", "[lora][zero]") {
  const Bytes weights = kBase * 2 + kPt * 4;  // bf16 base + fp32 adapters, replicated
  for (int stage : {1, 2}) {
    const Estimate e = estimate(qv_inputs(stage, 2));
    INFO("stage " << stage);
    CHECK(bytes_of(e, ComponentId::kWeights) == weights);
    CHECK(bytes_of(e, ComponentId::kOptimizerStates) == 8 * kPt / 2);  // exp_avg + exp_avg_sq fp32, / N
    // Stage 1 keeps full adapter gradients; stage 2 a partition of them.
    CHECK(bytes_of(e, ComponentId::kGradients) == (stage == 1 ? 4 * kPt : 4 * kPt / 2));
  }
}

TEST_CASE("LoRA under ZeRO-3 partitions the frozen base too", "[lora][zero]") {
  const Estimate e = estimate(qv_inputs(3, 2));
  CHECK(bytes_of(e, ComponentId::kWeights) == (kBase * 2 + kPt * 4) / 2);
  CHECK(bytes_of(e, ComponentId::kGradients) == 4 * kPt / 2);
  CHECK(bytes_of(e, ComponentId::kOptimizerStates) == 8 * kPt / 2);
  // The reduce bucket is allocated whole (stage3.py: torch.empty(reduce_bucket_size)) in the
  // adapters' gradient dtype, however few adapter parameters fill it: h² (HF "auto") × 4 B.
  CHECK(bytes_of(e, ComponentId::kReduceBucket) == 4ULL * 4096 * 4096);
  CHECK(4 * kPt < 4ULL * 4096 * 4096);
}

TEST_CASE("QLoRA under ZeRO-3: the packed 4-bit weights are sharded, the quant state is not", "[lora][zero]") {
  // NF4 double quant per Linear of n elements: ⌈n/2⌉ packed (a bf16-typed Params4bit with
  // quant_storage bf16: partitioned) + quant state kept whole on every rank:
  // ⌈n/64⌉ uint8 absmax + 4·⌈n/64/256⌉ + 4 offset + 1024 nested code + 64 code.
  // 4096×4096: 262,144 + 4,096 + 1,092 = 267,332; 11008×4096: 704,512 + 11,008 + 1,092 = 716,612.
  const Bytes quant_state = 32 * (4 * 267'332 + 3 * 716'612);
  CHECK(quant_state == 103'013'248);
  const Bytes one_gpu = estimate(qv_inputs(0, 1, BaseQuant::kNf4)).find(ComponentId::kWeights)->max_bytes;
  const Estimate e = estimate(qv_inputs(3, 2, BaseQuant::kNf4));
  CHECK(bytes_of(e, ComponentId::kWeights) == (one_gpu - quant_state + 1) / 2 + quant_state);
  CHECK(bytes_of(e, ComponentId::kGradients) == 4 * kPt / 2);
}

TEST_CASE("LoRA under DDP buckets only the adapters' gradients", "[lora][ddp]") {
  const Estimate e = estimate(qv_inputs(0, 2));
  CHECK(bytes_of(e, ComponentId::kDdpGradBuckets) == 4 * kPt);
  CHECK(bytes_of(e, ComponentId::kWeights) == kBase * 2 + kPt * 4);
  CHECK(bytes_of(e, ComponentId::kGradients) == 4 * kPt);
}

TEST_CASE("an int8 base keeps every Linear's input (bnb MatMul8bitLt ctx.tensors)", "[lora][int8]") {
  // fp32 adapters on q,v read private copies, so over NF4 no norm output or MLP product is kept;
  // over int8 the base Linears keep their inputs: the input-norm output (q/k/v), the
  // post-attention norm output (gate/up) and the MLP product (down_proj), bf16.
  EstimateInputs nf4 = qv_inputs(0, 1, BaseQuant::kNf4);
  EstimateInputs int8 = qv_inputs(0, 1, BaseQuant::kInt8);
  const Bytes T = nf4.setup.seq_len * nf4.setup.micro_batch;
  const Bytes h = 4096, I = 11008;
  const Activations a4 = activations(nf4.model, nf4.setup);
  const Activations a8 = activations(int8.model, int8.setup);
  CHECK(a8.per_layer == a4.per_layer + 2 * T * (2 * h + I));
  // Storage: n int8 (CB) + 4·rows fp32 (SCB) per Linear, 32 layers of 4 h×h and 3 I×h.
  const Bytes one_layer = 4 * (h * h + 4 * h) + 3 * (I * h) + 4 * (2 * I + h);
  const Bytes rest = 2 * (2 * 32000 * h + 65 * h);  // embeddings, lm_head, 65 norms in bf16
  CHECK(estimate(int8).find(ComponentId::kWeights)->max_bytes == 32 * one_layer + rest + 4 * kPt);
  EstimateInputs z3 = qv_inputs(3, 2, BaseQuant::kInt8);
  CHECK_THROWS_AS(estimate(z3), InputError);
  CHECK_NOTHROW(estimate(qv_inputs(2, 2, BaseQuant::kInt8)));
}
