// LoRA: exact trainable counts (published PEFT prints), a frozen base's states, and the saved
// tensors of a layer against hand-derived byte counts (peft tuners/lora/layer.py).
#include <catch2/catch.hpp>

#include <tuple>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

LoraSetup lora(std::uint64_t r, const std::string& targets) {
  LoraSetup l;
  l.rank = r;
  l.targets = parse_lora_targets(targets);
  return l;
}

EstimateInputs inputs(const std::string& model, const LoraSetup& l, Precision p = Precision::kBf16) {
  EstimateInputs in;
  in.model = resolve_model(model);
  in.setup.precision = p;
  in.setup.lora = l;
  in.with_advice = false;
  return in;
}

}  // namespace

TEST_CASE("LoRA trainable counts match PEFT's printed counts", "[lora]") {
  // print_trainable_parameters() for Llama-2-7B, r=8 on q_proj,v_proj (PEFT README / docs):
  // "trainable params: 4,194,304 || all params: 6,742,609,920".
  const ParameterCounts l2 = count_parameters(resolve_model("llama-2-7b"), lora(8, "q,v"));
  CHECK(l2.trainable == 4'194'304);
  CHECK(l2.total == 6'742'609'920);
  // Llama-3-8B: r=8 q,v → 3,407,872; r=16 all-linear → 41,943,040 (all 8,072,204,288).
  CHECK(count_parameters(resolve_model("llama-3-8b"), lora(8, "q_proj,v_proj")).trainable == 3'407'872);
  const ParameterCounts all = count_parameters(resolve_model("llama-3-8b"), lora(16, "all-linear"));
  CHECK(all.trainable == 41'943'040);
  CHECK(all.total == 8'072'204'288);
  // torchtune's llama3_1 LoRA config: q, v, output_proj and the MLP at r=8.
  CHECK(count_parameters(resolve_model("llama-3-8b"), lora(8, "q,v,o,mlp")).trainable == 19'660'800);
  // PEFT's default targets for llama are q_proj, v_proj.
  LoraSetup dflt;
  dflt.rank = 8;
  CHECK(count_parameters(resolve_model("llama-2-7b"), dflt).trainable == 4'194'304);
}

TEST_CASE("LoRA target names", "[lora]") {
  CHECK(parse_lora_targets("attention") == std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj"});
  CHECK(parse_lora_targets("gate,up_proj,gate") == std::vector<std::string>{"gate_proj", "up_proj"});
  CHECK_THROWS_AS(parse_lora_targets("q,,v"), InputError);
  CHECK_THROWS_AS(parse_lora_targets("lm_head"), InputError);
}

TEST_CASE("a frozen base has no gradients or optimizer states; adapters have fp32 ones", "[lora]") {
  const Estimate e = estimate(inputs("llama-2-7b", lora(8, "q,v")));
  const Bytes Pt = 4'194'304;
  CHECK(e.find(ComponentId::kGradients)->max_bytes == 4 * Pt);
  CHECK(e.find(ComponentId::kOptimizerStates)->max_bytes == 8 * Pt);
  CHECK(e.find(ComponentId::kWeights)->max_bytes == 2 * 6'738'415'616ULL + 4 * Pt);
  CHECK(e.find(ComponentId::kMasterWeights) == nullptr);
}

TEST_CASE("LoRA layer saved bytes: 14·T·h + 4·T·h_kv + 6·T·I + 4·T·r + rstd + LSE (bf16 adapters, q,v)", "[lora]") {
  LoraSetup l = lora(8, "q,v");
  l.adapter_bytes = 2;
  const EstimateInputs in = inputs("llama-3-8b", l);
  const Activations a = activations(in.model, in.setup);
  const Bytes T = 2048, h = 4096, hkv = 1024, I = 14336, r = 8, heads = 32;
  CHECK(a.per_layer == 14 * T * h + 4 * T * hkv + 6 * T * I + 4 * T * r + 2 * 4 * T + 4 * heads * T);
  // fp32 adapters on a bf16 base: lora_A saves a private fp32 copy of its input per module.
  const Activations f = activations(in.model, inputs("llama-3-8b", lora(8, "q,v")).setup);
  CHECK(f.per_layer == a.per_layer - 2 * T * h + 2 * 4 * T * h + 4 * T * r);
}

TEST_CASE("LoRA dropout saves a copy and a bool mask per adapted Linear", "[lora]") {
  LoraSetup l = lora(16, "all-linear");
  l.adapter_bytes = 2;
  const EstimateInputs base = inputs("llama-3-8b", l);
  l.dropout = 0.05;
  const EstimateInputs dropped = inputs("llama-3-8b", l);
  const Bytes T = 2048, h = 4096, q = 4096, I = 14336;
  const Bytes copies = 3 * T * (5 * h + q + I);  // 2 B copy + 1 B mask per input element
  const Bytes shared = 2 * T * h * 2 + 2 * T * I;  // the two norm outputs and the MLP product no longer saved
  CHECK(activations(dropped.model, dropped.setup).per_layer == activations(base.model, base.setup).per_layer + copies - shared);
}

TEST_CASE("LoRA off leaves every number as before; unsupported combinations are errors", "[lora]") {
  EstimateInputs full = inputs("llama-3-8b", LoraSetup{});
  LoraSetup zero_rank;
  zero_rank.targets = parse_lora_targets("all-linear");
  EstimateInputs off = inputs("llama-3-8b", zero_rank);
  CHECK(estimate(full).peak_allocated == estimate(off).peak_allocated);
  CHECK_THROWS_AS(estimate(inputs("llama-3-8b", lora(8, "q,v"), Precision::kMixed)), InputError);
  CHECK_THROWS_AS(estimate(inputs("phi-3-mini", lora(8, "q,v"))), InputError);
  EstimateInputs f = inputs("llama-3-8b", lora(8, "q,v"));
  f.layout.gpus = 2;
  f.layout.fsdp.version = 2;  // LoRA under FSDP is not modelled (DDP and ZeRO are: lora_zero_test.cpp)
  CHECK_THROWS_AS(estimate(f), InputError);
  EstimateInputs tp = inputs("llama-3-8b", lora(8, "q,v"));
  tp.layout.gpus = 2;
  tp.layout.tp = 2;
  CHECK_THROWS_AS(estimate(tp), InputError);
}

TEST_CASE("LoRA fields are set through apply_change", "[lora]") {
  EstimateInputs in = inputs("llama-3-8b", LoraSetup{});
  apply_change(in, {field::kLoraRank, "16"});
  apply_change(in, {field::kLoraTargets, "mlp"});
  apply_change(in, {field::kLoraDropout, "0.1"});
  apply_change(in, {field::kLoraDtype, "bf16"});
  CHECK(in.setup.lora.rank == 16);
  CHECK(in.setup.lora.targets.size() == 3);
  CHECK(in.setup.lora.dropout == 0.1);
  CHECK(in.setup.lora.adapter_bytes == 2);
  CHECK_THROWS_AS(apply_change(in, {field::kLoraDropout, "1"}), InputError);
  CHECK_THROWS_AS(apply_change(in, {field::kLoraDtype, "int8"}), InputError);
}

TEST_CASE("bitsandbytes 4-bit and int8 bases are byte-exact with their quantization state", "[lora][quant]") {
  // One 4096 × 4096 weight: 8,388,608 packed + 262,144 uint8 absmax + 4·1,024 nested absmax
  // + 4 offset + 1,024 nested code + 64 code.
  CHECK(quantized_weight_bytes(BaseQuant::kNf4, true, 4096, 4096) == 8'388'608 + 262'144 + 4'096 + 4 + 1'024 + 64);
  CHECK(quantized_weight_bytes(BaseQuant::kFp4, false, 4096, 4096) == 8'388'608 + 4 * 262'144 + 64);
  CHECK(quantized_weight_bytes(BaseQuant::kInt8, true, 1024, 4096) == 1024 * 4096 + 4 * 1024);
  // Llama-3-8B's 224 decoder Linears (6,979,321,856 weights): NF4+DQ 3,600,661,376 B, NF4
  // 3,925,882,880 B, int8 6,984,826,880 B (the spec's arithmetic, modeling-finetune.md §3.5).
  const ModelConfig m = resolve_model("llama-3-8b");
  for (const auto& [quant, dq, expected] : {std::tuple{BaseQuant::kNf4, true, 3'600'661'376ULL},
                                            std::tuple{BaseQuant::kNf4, false, 3'925'882'880ULL},
                                            std::tuple{BaseQuant::kInt8, true, 6'984'826'880ULL}}) {
    LoraSetup l = lora(8, "q,v");
    l.base_quant = quant;
    l.double_quant = dq;
    l.kbit_upcast = false;  // as loaded by from_pretrained, before prepare_model_for_kbit_training
    const ParameterCounts pc = count_parameters(m, l);
    CHECK(quantized_parameters(pc) == 6'979'321'856ULL);
    // Everything else: embeddings + lm_head + norms in bf16, adapters in fp32.
    const Bytes rest = 2 * (8'030'261'248ULL - 6'979'321'856ULL) + 4 * 3'407'872ULL;
    CHECK(stored_weight_bytes(pc, 2, l) == expected + rest);
  }
}

TEST_CASE("a 4-bit base dequantizes the largest Linear in forward and backward", "[lora][quant]") {
  LoraSetup l = lora(8, "q,v");
  const EstimateInputs plain = inputs("llama-3-8b", l);
  l.base_quant = BaseQuant::kNf4;
  const EstimateInputs q = inputs("llama-3-8b", l);
  const Activations a = activations(plain.model, plain.setup);
  const Activations b = activations(q.model, q.setup);
  const Bytes mlp = 2ULL * 14336 * 4096 + 4 * (14336ULL * 4096 / 64);
  CHECK(b.forward_transient == a.forward_transient + mlp);
  CHECK(b.mlp_backward_transient == a.mlp_backward_transient + mlp);
  CHECK(b.per_layer == a.per_layer);
  EstimateInputs no_lora = q;
  no_lora.setup.lora.rank = 0;
  CHECK_THROWS_AS(estimate(no_lora), InputError);
  // int8 (bnb MatMul8bitLt): backward dequantizes CB to bf16 and scales it by SCB/127 (fp32 rows);
  // forward quantizes the input of gate/up: T·h int8 CA + 4·T SCA + the 4·T·I int32 product.
  EstimateInputs int8 = q;
  int8.setup.lora.base_quant = BaseQuant::kInt8;
  const Activations c = activations(int8.model, int8.setup);
  const Bytes T = int8.setup.seq_len * int8.setup.micro_batch;
  CHECK(c.mlp_backward_transient == a.mlp_backward_transient + 2ULL * 14336 * 4096 + 4 * 14336);
  CHECK(c.forward_transient == a.forward_transient + T * (4096 + 4 * 14336 + 4));
}

TEST_CASE("prepare_model_for_kbit_training casts the unquantized base to fp32", "[lora][quant]") {
  // Llama-3-8B: embed_tokens 128,256 × 4,096 = 525,336,576, lm_head the same, 65 RMSNorms ×
  // 4,096 = 266,240: 1,050,939,392 parameters go from bf16 to fp32 (+2,101,878,784 B);
  // the 224 NF4+DQ Linears (3,600,661,376 B) and the fp32 adapters are unchanged.
  const ModelConfig m = resolve_model("llama-3-8b");
  LoraSetup l = lora(8, "q,v");
  l.base_quant = BaseQuant::kNf4;
  const ParameterCounts pc = count_parameters(m, l);
  CHECK(l.kbit_upcast);  // PEFT's documented QLoRA flow calls it
  CHECK(kbit_upcast_parameters(pc) == 1'050'939'392ULL);
  CHECK(stored_weight_bytes(pc, 2, l) == 3'600'661'376ULL + 4 * 1'050'939'392ULL + 4 * 3'407'872ULL);
  // The weights component of a bf16 run carries the same bytes and names the function.
  const Term w = model_states(pc, inputs("llama-3-8b", l).setup).weights;
  CHECK(w.bytes == 3'600'661'376ULL + 4 * 1'050'939'392ULL + 4 * 3'407'872ULL);
  CHECK(w.source.find("prepare_model_for_kbit_training") != std::string::npos);
  CHECK(w.formula.find("1,050,939,392 upcast to fp32") != std::string::npos);
  // Off, and without a quantized base, nothing is upcast.
  EstimateInputs off = inputs("llama-3-8b", l);
  apply_change(off, {field::kKbitUpcast, "false"});
  CHECK_FALSE(off.setup.lora.kbit_upcast);
  CHECK(kbit_upcast_parameters(count_parameters(m, off.setup.lora)) == 0);
  CHECK(kbit_upcast_parameters(count_parameters(m, lora(8, "q,v"))) == 0);
  CHECK_THROWS_AS(apply_change(off, {field::kKbitUpcast, "yes"}), InputError);
}

TEST_CASE("DoRA: a magnitude per output row, two T·out products saved, the weight norm as a forward temporary", "[lora][dora]") {
  // Magnitudes: out_features per adapted Linear. Llama-3-8B, r 8 on q_proj (4,096 out) and v_proj
  // (1,024 out): 3,407,872 + 32 · 5,120 = 3,571,712 trainable. The measured tiny llama (h 128, kv 64,
  // I 320, 3 layers): PEFT printed 11,328 (r 8 q,v) and 110,976 (r 16 all-linear).
  LoraSetup l = lora(8, "q,v");
  l.dora = true;
  CHECK(count_parameters(resolve_model("llama-3-8b"), l).trainable == 3'571'712);
  const ModelConfig tiny = parse_model_config(
      R"({"model_type": "llama", "hidden_size": 128, "num_attention_heads": 4, "num_hidden_layers": 3, "vocab_size": 4096,
          "num_key_value_heads": 2, "intermediate_size": 320, "head_dim": 32, "tie_word_embeddings": false})",
      "tiny");
  CHECK(count_parameters(tiny, l).trainable == 11'328);
  LoraSetup all = lora(16, "all-linear");
  all.dora = true;
  CHECK(count_parameters(tiny, all).trainable == 110'976);
  // Saved per layer, bf16 base and fp32 adapters at T = 2048: base_result 2·T·out and lora_result 4·T·out.
  const EstimateInputs in = inputs("llama-3-8b", l);
  const Activations d = activations(in.model, in.setup);
  const Activations plain = activations(in.model, inputs("llama-3-8b", lora(8, "q,v")).setup);
  const Bytes T = 2048, h = 4096, hkv = 1024, r = 8;
  CHECK(d.per_layer == plain.per_layer + (2 + 4) * T * (h + hkv));
  // Forward temporary of the largest adapted Linear (q_proj, 4096 → 4096): I (in²) and lora_A(I)
  // (in·r) in fp32, then B·A, W cast to fp32, scaling·B·A and their sum (4 · in·out), 4 B each.
  CHECK(d.forward_transient == plain.forward_transient + 4 * (h * h + h * r) + 4 * 4 * h * h);
  // DoRA with dropout, or over a quantized base, is refused rather than guessed.
  EstimateInputs dropout = in;
  dropout.setup.lora.dropout = 0.1;
  CHECK_THROWS_AS(estimate(dropout), InputError);
  EstimateInputs quant = in;
  quant.setup.lora.base_quant = BaseQuant::kNf4;
  CHECK_THROWS_AS(estimate(quant), InputError);
  EstimateInputs set = inputs("llama-3-8b", lora(8, "q,v"));
  apply_change(set, {field::kLoraDora, "true"});
  CHECK(set.setup.lora.dora);
}
