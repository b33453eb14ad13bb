// Liger-Kernel's fused kernels (see ops_fused.hpp).
#include "core/ops_fused.hpp"

#include <bit>
#include <variant>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, false}, region, false});
}

}  // namespace

// rms_norm.py LigerRMSNormFunction.forward: ctx.save_for_backward(X, W, RSTD) with X the input
// viewed (T, h) — the residual stream's own storage, no copy — and RSTD (T,) fp32 for the
// "llama" and "gemma" casting modes; Y is a new tensor. layer_norm.py LigerLayerNormFunction:
// save_for_backward(X, W, B, Mean, RSTD), Mean and RSTD (T,) in X's dtype.
void fused_norm_saved(const NormOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const Bytes n = checked_mul(op.width, op.rows_per_token);
  const Bytes in_bytes = op.input_in_compute_dtype ? x.e : x.r;
  const Bytes rows = checked_mul(x.T, op.rows_per_token);
  const bool layer_norm = op.kind == NormKind::kLayerNorm;
  const char* src = layer_norm ? "Liger-Kernel ops/layer_norm.py LigerLayerNormFunction.forward (save_for_backward(X, W, B, Mean, RSTD))"
                               : "Liger-Kernel ops/rms_norm.py LigerRMSNormFunction.forward (save_for_backward(X, W, RSTD))";
  if (!op.input_already_saved) {
    add(out, op.name + ".input", checked_product({in_bytes, x.T, n}),
        fmt::format("{}·T·h: the input itself (viewed (T, h), no fp32 copy), saved by the fused norm", in_bytes), src, op.region);
  }
  if (layer_norm) {
    add(out, op.name + ".mean_rstd", checked_product({2, in_bytes, rows}), fmt::format("2·{}·T: per-row mean and rstd in the input dtype", in_bytes),
        src, op.region);
  } else {
    add(out, op.name + ".rstd", checked_product({4, rows}), "4·T: per-row rstd, fp32 (casting mode llama / gemma)", src, op.region);
  }
}

// swiglu.py LigerSiLUMulFunction.forward: ctx.save_for_backward(a, b) (gate_proj and up_proj
// outputs); c = silu(a)·b is a new tensor, down_proj's saved input. Phi-3's gate_up output is
// chunked into two non-contiguous views that @ensure_contiguous copies (the fused output is
// then freed). GeGLU (geglu.py LigerGELUMulFunction) saves the same.
void fused_glu_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const BackwardRegion after = BackwardRegion::kAfterAttention;
  const Bytes tI = checked_product({x.e, x.T, x.I});
  const char* src = "Liger-Kernel ops/swiglu.py LigerSiLUMulFunction (saves a, b; the activation is recomputed in backward)";
  const bool chunked = op.kind == MlpKind::kFusedGated;
  add(out, "mlp.gate", tI,
      fmt::format("{}·T·I: gate output{}, saved by the fused SiLU·mul", x.e, chunked ? " (contiguous copy of the gate_up chunk)" : ""), src,
      after);
  add(out, "mlp.up", tI,
      fmt::format("{}·T·I: up output{}, saved by the fused SiLU·mul", x.e, chunked ? " (contiguous copy of the gate_up chunk)" : ""), src,
      after);
  add(out, "mlp.product", tI, fmt::format("{}·T·I: silu(gate)·up, down_proj's saved input (no separate activation output)", x.e), src,
      BackwardRegion::kOutput);
}

// swiglu.py swiglu_backward: the kernel writes da and db into a's and b's storage, so the only
// new buffer is down_proj's input gradient dc (T×I). Phi-3: after it, chunk's backward builds
// the T×2I gradient of the fused gate_up output.
Bytes fused_glu_backward_transient(const MlpOp& op, const Dims& x) {
  return checked_product({op.kind == MlpKind::kFusedGated ? Bytes{2} : Bytes{1}, x.e, x.T, x.I});
}

void validate_kernels(const ModelConfig& model, const TrainingSetup& setup) {
  if (!setup.kernels.fused_swiglu) return;
  for (const auto& op : family_spec(model.family).layer(model).ops) {
    const auto* mlp = std::get_if<MlpOp>(&op);
    if (mlp != nullptr && mlp->kind == MlpKind::kPlain) {
      throw InputError(field::kFusedSwiglu, "true",
                       "this model's MLP is not gated (fc2(act(fc1(x)))); Liger's SwiGLU / GeGLU kernels need gate and up projections");
    }
  }
}

Bytes liger_flce_chunk_tokens(Bytes T, Bytes V, Bytes h) { return std::bit_ceil(ceil_div(T, ceil_div(V, h))); }

}  // namespace vramcalc
