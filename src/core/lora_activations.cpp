// LoRA's saved tensors, derived from autograd's rules (torch tools/autograd/gen_variable_type.py
// guard_for: mm/addmm save the activation only when the weight requires grad) applied to
// peft tuners/lora/layer.py Linear.forward, and measured with peft 0.21.2 on CPU
// (tools/measure/FINDINGS.md §9).
#include "core/lora_activations.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr const char* kPeftForward =
    "peft tuners/lora/layer.py Linear.forward (x = _cast_input_dtype(x, lora_A.weight.dtype); lora_B(lora_A(dropout(x))))";

// An adaptable Linear of a Llama-style layer: what it reads (0 the input norm's output, 1 the
// attention output, 2 the post-attention norm's output, 3 the MLP product) and when its
// backward runs.
struct Adaptable {
  const char* name;
  int group;
  BackwardRegion region;
};

constexpr Adaptable kLlamaLinears[] = {
    {"q_proj", 0, BackwardRegion::kInput},          {"k_proj", 0, BackwardRegion::kInput},
    {"v_proj", 0, BackwardRegion::kInput},          {"o_proj", 1, BackwardRegion::kAfterAttention},
    {"gate_proj", 2, BackwardRegion::kAfterAttention}, {"up_proj", 2, BackwardRegion::kAfterAttention},
    {"down_proj", 3, BackwardRegion::kOutput}};

Bytes width_of(const Adaptable& l, const Dims& x) {
  if (l.group == 1) return x.qd;
  if (l.group == 3) return x.I;
  return x.h;
}

// out_features of an adaptable Linear.
Bytes out_of(const Adaptable& l, const Dims& x) {
  const std::string_view n = l.name;
  if (n == "q_proj") return x.qd;
  if (n == "k_proj" || n == "v_proj") return x.kvd;
  if (n == "gate_proj" || n == "up_proj") return x.I;
  return x.h;
}

constexpr const char* kDoraForward =
    "peft tuners/lora/dora.py DoraLinearLayer.forward: result_dora = (mag_norm_scale − 1)·base_result + "
    "mag_norm_scale·lora_result·scaling (torch mul saves the other operand when this one requires grad)";

// DoRA's two T·out products: base_result (the frozen Linear's output, base dtype) and
// lora_result (adapter dtype), each saved by a mul with the magnitude-derived scale.
void dora_saved(const Adaptable& l, const Dims& x, Bytes a, std::vector<SavedTensor>& out) {
  const std::string name = fmt::format("lora.{}", l.name);
  const Bytes o = out_of(l, x);
  out.push_back({{name + ".dora_base_result", checked_product({x.e, x.T, o}),
                  fmt::format("{}·T·{}: the base Linear's output, kept for the magnitude's gradient", x.e, o), kDoraForward, false},
                 l.region});
  out.push_back({{name + ".dora_lora_result", checked_product({a, x.T, o}),
                  fmt::format("{}·T·{}: lora_B(lora_A(x)), kept for the magnitude's gradient", a, o), kDoraForward, false},
                 l.region});
}

bool adapted(const TrainingSetup& setup, const char* name) {
  const auto targets = lora_targets_or_default(setup.lora);
  return std::find(targets.begin(), targets.end(), name) != targets.end();
}

// lora_A reads a private tensor when dropout is on (its output) or the input is cast to the
// adapter dtype (_cast_input_dtype makes a copy); otherwise it saves the Linear's own input.
bool private_input(const TrainingSetup& setup, const Dims& x) { return setup.lora.dropout > 0.0 || setup.lora.adapter_bytes != x.e; }

bool group_shared(const TrainingSetup& setup, const Dims& x, int group) {
  // An int8 base Linear keeps its own input A (bitsandbytes autograd/_functions.py MatMul8bitLt:
  // ctx.tensors = (CAt, subA, A) whenever the input requires grad), adapted or not.
  if (setup.lora.base_quant == BaseQuant::kInt8) return true;
  if (private_input(setup, x)) return false;
  for (const auto& l : kLlamaLinears) {
    if (l.group == group && adapted(setup, l.name)) return true;
  }
  return false;
}

// MatMul8bitLt.forward of the largest MLP Linear (bitsandbytes autograd/_functions.py,
// backends/default/ops.py int8_scaled_mm): int8_vectorwise_quant(A.to(fp16)) makes a 2·T·in fp16
// copy, then CA (T·in int8) and SCA (4·T) stay while int8_linear_matmul returns a 4·T·out int32
// product. Outlier columns (threshold 6.0: subA, subB) depend on the data and are not counted.
Bytes int8_forward_transient(const Dims& x) {
  auto linear = [&](Bytes in, Bytes out) {
    return checked_add(checked_add(checked_mul(x.T, in), checked_mul(4, x.T)), std::max(checked_product({2, x.T, in}), checked_product({4, x.T, out})));
  };
  return std::max(linear(x.h, x.I), linear(x.I, x.h));
}

}  // namespace

void validate_lora(const ModelConfig& m, const TrainingSetup& setup, bool unsupported_layout) {
  const LoraSetup& lora = setup.lora;
  if (!lora.enabled()) return;
  if (!(lora.dropout >= 0.0 && lora.dropout < 1.0)) {
    throw InputError(field::kLoraDropout, fmt::format("{}", lora.dropout), "must be in [0, 1)");
  }
  if (m.family != Family::kLlama && m.family != Family::kMistral && m.family != Family::kQwen2) {
    throw InputError(field::kLoraRank, std::to_string(lora.rank),
                     fmt::format("LoRA is modelled for llama, mistral and qwen2 layers, not {}", family_name(m.family)));
  }
  if (setup.precision != Precision::kFp32 && setup.precision != Precision::kBf16) {
    throw InputError(field::kPrecision, to_string(setup.precision),
                     "LoRA is modelled with the base in fp32 or bf16 without autocast (precision fp32 or bf16)");
  }
  if (lora.dora && lora.dropout > 0.0) {
    // With dropout DoRA recomputes base_result = F.linear(dropout(x), W.to(x.dtype)), which saves a
    // cast copy of W: not modelled yet.
    throw InputError(field::kLoraDora, "true", "DoRA is modelled with LoRA dropout 0 (with dropout peft recomputes the base output)");
  }
  if (lora.dora && lora.base_quant != BaseQuant::kNone) {
    throw InputError(field::kLoraDora, "true", "DoRA over a quantized base (dequantize_module_weight in every forward) is not modelled yet");
  }
  if (unsupported_layout) {
    throw InputError(field::kLoraRank, std::to_string(lora.rank), "LoRA is modelled on one GPU, DDP and DeepSpeed ZeRO 1-3 (not FSDP, tensor, context or pipeline parallelism, Megatron)");
  }
}

LayerSpec lora_layer_spec(LayerSpec spec, const TrainingSetup& setup, const Dims& x) {
  for (auto& op : spec.ops) {
    if (auto* n = std::get_if<NormOp>(&op)) {
      n->frozen_weight = true;
      const int group = n->region == BackwardRegion::kInput ? 0 : 2;
      n->consumers = group_shared(setup, x, group) ? 1 : 0;
    }
    if (auto* p = std::get_if<MlpOp>(&op)) p->product_saved = group_shared(setup, x, 3);
  }
  return spec;
}

void add_dequant_transients(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Activations& act) {
  const LoraSetup& l = setup.lora;
  if (l.base_quant == BaseQuant::kNone) return;
  const Bytes mlp = dequant_transient_bytes(l.base_quant, l.double_quant, m.intermediate_size, m.hidden_size, x.e);
  const Bytes attn = dequant_transient_bytes(l.base_quant, l.double_quant, std::max(m.q_dim(), m.kv_dim()), m.hidden_size, x.e);
  act.forward_transient = checked_add(act.forward_transient, l.base_quant == BaseQuant::kInt8 ? int8_forward_transient(x) : mlp);
  if (l.base_quant == BaseQuant::kInt8) {
    act.forward_transient_note = fmt::format(
        "int8 base, largest MLP Linear: T·in int8 CA + 4·T SCA + max(2·T·in fp16 copy, 4·T·out int32 product) = {} B; "
        "backward: CB dequantized to the input dtype + 4·rows fp32 scales (bitsandbytes autograd/_functions.py "
        "MatMul8bitLt; outlier columns not counted)",
        int8_forward_transient(x));
  }
  act.mlp_backward_transient = checked_add(act.mlp_backward_transient, mlp);
  act.attn_backward_transient = checked_add(act.attn_backward_transient, attn);
  act.backward_transient = std::max(act.mlp_backward_transient, act.attn_backward_transient);
}

void add_dora_transient(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Activations& act) {
  (void)m;
  const LoraSetup& l = setup.lora;
  if (!l.enabled() || !l.dora) return;
  const Bytes a = l.adapter_bytes;
  Bytes worst = 0;
  for (const auto& lin : kLlamaLinears) {
    if (!adapted(setup, lin.name)) continue;
    const Bytes in = width_of(lin, x);
    const Bytes w = checked_product({a, in, out_of(lin, x)});
    // get_lora_weight: x_eye (in × in) and lora_A(x_eye) (in × r) saved by its graph, B·A (in × out),
    // all alive until forward returns; get_weight_norm: W.to(x.dtype) (a copy when the base dtype
    // differs), scaling·B·A and W + scaling·B·A at the add.
    const Bytes eye = checked_add(checked_product({a, in, in}), checked_product({a, in, l.rank}));
    const Bytes copies = a == x.e ? 3 : 4;
    worst = std::max(worst, checked_add(eye, checked_mul(copies, w)));
  }
  act.forward_transient = checked_add(act.forward_transient, worst);
  act.forward_transient_note = fmt::format(
      "DoRA weight norm of the largest adapted Linear: a·(in² + in·r) + {}·a·in·out = {} B (peft tuners/lora/dora.py "
      "DoraLinearLayer.get_lora_weight / get_weight_norm)",
      a == x.e ? 3 : 4, worst);
}

void lora_saved(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, std::vector<SavedTensor>& out) {
  (void)m;
  const LoraSetup& lora = setup.lora;
  const Bytes a = lora.adapter_bytes;
  const bool copy = private_input(setup, x);
  const bool dropout = lora.dropout > 0.0;
  const Bytes mask = lora.dropout_mask_in_input_dtype ? a : 1;
  for (const auto& l : kLlamaLinears) {
    if (!adapted(setup, l.name)) continue;
    const std::string name = fmt::format("lora.{}", l.name);
    const Bytes d_in = width_of(l, x);
    if (copy) {
      out.push_back({{name + ".A_input", checked_product({a, x.T, d_in}),
                      fmt::format("{}·T·{}: lora_A's input, a private {} copy ({})", a, d_in, a == 4 ? "fp32" : "bf16",
                                  dropout ? "the dropout output" : "cast to the adapter dtype"),
                      kPeftForward, false},
                     l.region});
    }
    if (dropout) {
      out.push_back({{name + ".dropout_mask", checked_product({mask, x.T, d_in}),
                      fmt::format("{}·T·{}: dropout mask ({})", mask, d_in, mask == 1 ? "bool, CUDA native_dropout" : "input dtype, CPU bernoulli_"),
                      "torch nn.functional.dropout: native_dropout saves the mask (aten/src/ATen/native/Dropout.cpp)", false},
                     l.region});
    }
    out.push_back({{name + ".B_input", checked_product({a, x.T, lora.rank}),
                    fmt::format("{}·T·r: lora_A's output, lora_B's saved input", a), kPeftForward, false},
                   l.region});
    if (lora.dora) dora_saved(l, x, a, out);
  }
}

}  // namespace vramcalc
