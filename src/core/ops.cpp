// What each op kind saves for backward and what its backward allocates (see ops.hpp).
#include "core/ops.hpp"

#include <fmt/format.h>

#include <vramcalc/model_states.hpp>

#include "core/ops_attention_backends.hpp"
#include "core/ops_flash.hpp"
#include "core/ops_fused.hpp"

namespace vramcalc {
namespace {

constexpr const char* kLlamaSrc = "transformers models/llama/modeling_llama.py";

const char* norm_source(NormKind kind) {
  switch (kind) {
    case NormKind::kRms: return "transformers models/llama/modeling_llama.py LlamaRMSNorm";
    case NormKind::kRmsFp32Scale: return "transformers models/gemma/modeling_gemma.py GemmaRMSNorm, models/olmo2 Olmo2RMSNorm";
    case NormKind::kLayerNorm: return "torch native_layer_norm (saves input, mean, rstd); transformers models/gpt_neox, falcon";
  }
  return "";
}

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, std::string source,
         BackwardRegion region, bool estimated = false, bool s2 = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), std::move(source), estimated}, region, s2});
}

}  // namespace

Dims dims_of(const ModelConfig& m, const TrainingSetup& setup) {
  const PrecisionBytes pb = precision_bytes(setup.precision);
  Dims d{checked_mul(setup.seq_len, setup.micro_batch), m.hidden_size, m.q_dim(), m.kv_dim(), m.intermediate_size,
         m.num_heads, setup.seq_len, setup.micro_batch, m.head_dim, m.rotary_dim, pb.residual, pb.compute,
         setup.precision == Precision::kAmp, setup.kernels};
  d.Tn = d.T;
  d.moe = setup.moe;
  return d;
}

void norm_saved(const NormOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const char* src = norm_source(op.kind);
  const Bytes n = checked_mul(op.width, op.rows_per_token);  // elements per token
  const Bytes in_bytes = op.input_in_compute_dtype ? x.e : x.r;
  // A norm of the residual stream is sequence-sharded under sequence parallelism; a QK-norm
  // reads the head-sharded projection output, which holds the whole sequence.
  const Bytes tokens = op.input_in_compute_dtype ? x.T : x.Tn;
  const Bytes rows = checked_mul(tokens, op.rows_per_token);
  if (x.kernels.fused_norm) {
    fused_norm_saved(op, x, out);
  } else if (op.kind == NormKind::kLayerNorm) {
    if (!op.input_already_saved) {
      add(out, op.name + ".input", checked_product({in_bytes, tokens, n}), fmt::format("{}·T·h: the input, saved by layer_norm", in_bytes), src, op.region);
    }
    add(out, op.name + ".mean_rstd", checked_product({8, rows}), "8·T: fp32 mean and rstd per row (CUDA accumulate type)", src, op.region);
  } else {
    add(out, op.name + ".fp32_input", checked_product({4, tokens, n}),
        fmt::format("4·T·h: fp32 copy of the input saved by pow and mul ({} B × {} × {})", 4, tokens, n), src, op.region);
    add(out, op.name + ".rstd", checked_product({4, rows}), "4·T: fp32 rsqrt(var + eps) saved by mul", src, op.region);
    // LlamaRMSNorm casts x·rstd back to the input dtype before `weight *` (saves that cast);
    // the fp32-scale norms multiply in fp32 (save the fp32 normalised tensor).
    const Bytes normalized = op.kind == NormKind::kRmsFp32Scale ? 4 : in_bytes;
    if (!op.frozen_weight) add(out, op.name + ".normalized", checked_product({normalized, tokens, n}),
        fmt::format("{}·T·h: normalised input saved by the trainable weight multiply", normalized), src, op.region);
  }
  if (op.consumers == 0) return;
  if (x.amp) {
    // Autocast casts the fp32 norm output separately for each Linear that reads it.
    add(out, op.name + ".output_casts", checked_product({op.consumers, 2, tokens, n}),
        fmt::format("{}×2·T·h: bf16 autocast casts of the output, one per Linear", op.consumers),
        "aten/src/ATen/autocast_mode.cpp cached_cast (activations are not cached)", op.region);
  } else {
    add(out, op.name + ".output", checked_product({in_bytes, tokens, n}),
        fmt::format("{}·T·h: norm output, saved once by the Linears that read it", in_bytes), src, op.region);
  }
}

void linear_input_saved(const LinearInputOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  if (x.amp) {
    add(out, op.name + ".input_casts", checked_product({op.consumers, 2, x.Tn, x.h}),
        fmt::format("{}×2·T·h: bf16 autocast casts of the residual stream, one per Linear", op.consumers),
        "aten/src/ATen/autocast_mode.cpp cached_cast", op.region);
  } else {
    add(out, op.name + ".input", checked_product({x.r, x.Tn, x.h}),
        fmt::format("{}·T·h: the residual stream, saved once by the Linears that read it", x.r), "torch nn.Linear saves its input",
        op.region);
  }
}

void mlp_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  if (op.kind == MlpKind::kMoe) return moe_saved(op, x, out);
  const BackwardRegion after = BackwardRegion::kAfterAttention;
  const Bytes tI = checked_product({x.e, x.T, x.I});
  if (x.kernels.fused_swiglu && op.kind != MlpKind::kPlain) return fused_glu_saved(op, x, out);
  if (op.act_extra > 0 && x.amp) {
    // CUDA autocast runs pow in fp32 (autocast_mode.cpp fp32 list; docs "CUDA Ops that can
    // autocast to float32"): pow saves the fp32 cast of x, tanh and 1 + tanh are fp32, 0.5·x
    // stays bf16, and the fp32 product reaches the next Linear as its bf16 cast. Beyond fc_in
    // and act (2 + 2): 4 + 4 + 4 + 2 = 14, less the bf16 x nobody saves = 12. (CPU autocast
    // keeps pow in bf16: 3×2, tools/measure/FINDINGS.md.)
    add(out, "mlp.gelu_new_parts", checked_product({12, x.T, x.I}),
        "12·T·I: Python tanh GELU under CUDA autocast: fp32 x for pow, fp32 tanh and 1 + tanh, bf16 0.5·x, less the unsaved bf16 x",
        "transformers activations.py NewGELUActivation (gelu_new); torch autocast fp32 op list (pow)", after, true);
  } else if (op.act_extra > 0) {
    add(out, "mlp.gelu_new_parts", checked_product({op.act_extra, x.e, x.T, x.I}),
        fmt::format("{}×{}·T·I: Python tanh GELU saves tanh(·), 1 + tanh(·) and 0.5·x beside its input", op.act_extra, x.e),
        "transformers activations.py NewGELUActivation (gelu_new), elementwise autograd", after);
  }
  if (op.kind == MlpKind::kPlain) {
    const char* src = "transformers models/gpt_neox GPTNeoXMLP, models/falcon FalconMLP, models/gpt2 GPT2MLP, models/phi PhiMLP";
    add(out, "mlp.fc_in", tI, fmt::format("{}·T·I: first Linear's output, saved by the activation", x.e), src, after);
    add(out, "mlp.act", tI, fmt::format("{}·T·I: activation output, the second Linear's saved input", x.e), src, BackwardRegion::kOutput);
    return;
  }
  const bool fused = op.kind == MlpKind::kFusedGated;
  const char* src = fused ? "transformers models/phi3/modeling_phi3.py Phi3MLP (gate_up_proj chunked)"
                          : "transformers models/llama/modeling_llama.py LlamaMLP";
  if (fused) {
    add(out, "mlp.gate_up", checked_product({x.e, x.T, 2 * x.I}),
        fmt::format("{}·T·2I: fused gate_up output (gate saved by the activation, up by the product)", x.e), src, after);
  } else {
    add(out, "mlp.gate", tI, fmt::format("{}·T·I: gate_proj output saved by the activation", x.e), src, after);
    add(out, "mlp.up", tI, fmt::format("{}·T·I: up_proj output saved by the product", x.e), src, after);
  }
  add(out, "mlp.act", tI, fmt::format("{}·T·I: activation output saved by the product", x.e), src, after);
  if (op.product_saved) add(out, "mlp.product", tI, fmt::format("{}·T·I: act·up, down_proj's saved input", x.e), src, BackwardRegion::kOutput);
}

Bytes mlp_backward_transient(const MlpOp& op, const Dims& x) {
  // Gated: the product's gradient, then the gradients of act and up. Plain: the activation
  // output's gradient, then its input's.
  if (op.kind == MlpKind::kMoe) return moe_backward_transient(op, x);
  if (x.kernels.fused_swiglu && op.kind != MlpKind::kPlain) return fused_glu_backward_transient(op, x);
  return checked_product({op.kind == MlpKind::kPlain ? Bytes{2} : Bytes{3}, x.e, x.T, x.I});
}

Bytes attention_backward_transient(const ModelConfig& m, const TrainingSetup& setup, const Dims& x) {
  if (is_flash(setup.attention)) return flash_backward_transient(m, setup, x);
  if (setup.attention == Attention::kSdpaMath) return sdpa_math_backward_transient(x);
  if (setup.attention == Attention::kFlex) return flex_backward_transient(x);
  if (setup.attention == Attention::kSdpa) {
    // dq, dk, dv, the incoming grad, dk/dv expanded to a heads (GQA) and the fp32 dq accumulator.
    const Bytes expanded = m.num_kv_heads < m.num_heads ? checked_product({2, x.e, x.T, x.qd}) : 0;
    return checked_product({2, x.e, x.T, x.qd}) + checked_product({2, x.e, x.T, x.kvd}) + expanded +
           checked_product({4, x.T, x.qd});
  }
  if (m.attention_sinks) return sinks_backward_transient(x);
  // Eager, at _softmax_backward_data: the fp32 gradient of the softmax output (in bf16 the
  // .to(fp32) upcast of the probabilities' gradient, which is already freed) and the fp32
  // gradient of the softmax input, beside the saved fp32 softmax output (measured on
  // transformers 5.24 / torch 2.15: 12·a·s²·b of s² buffers in every precision,
  // tools/measure/FINDINGS.md §6).
  return checked_product({8, x.a, x.s, x.s, x.b});
}

}  // namespace vramcalc
