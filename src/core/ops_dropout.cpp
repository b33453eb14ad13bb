// Hidden dropout: the residual branches' dropout (Megatron bias_dropout_add, hidden_dropout 0.1
// by default) and the embedding's. What backward needs of a dropout is its keep mask, one bool
// per element: CUDA's native_dropout returns it as bool (aten/src/ATen/native/cuda/Dropout.cu),
// and the compiled bias-dropout-add saves the same bool mask (measured on CPU, torch 2.15:
// torch.compile of x + bias → F.dropout → + residual saves one torch.bool (T, h) tensor).
#include "core/ops.hpp"

#include <fmt/format.h>

namespace vramcalc {

namespace {

constexpr const char* kBdaSource =
    "Megatron core/fusions/fused_bias_dropout.py bias_dropout_add_fused_train (jit_fuser = torch.compile; "
    "TransformerLayer self_attn_bda, mlp_bda); aten native_dropout (CUDA) saves a bool mask";

}  // namespace

void hidden_dropout_saved(const TrainingSetup& setup, const Dims& x, std::vector<SavedTensor>& out) {
  if (setup.hidden_dropout <= 0.0) return;
  const Bytes mask = x.Tn;  // one byte per element of the residual stream (T·h, T/tp·h under SP)
  const std::string formula = fmt::format("1·T·h: bool keep mask of the dropout (p = {:g})", setup.hidden_dropout);
  out.push_back({{"attn.dropout_mask", checked_mul(mask, x.h), formula, kBdaSource, true}, BackwardRegion::kAfterAttention, false});
  out.push_back({{"mlp.dropout_mask", checked_mul(mask, x.h), formula, kBdaSource, true}, BackwardRegion::kOutput, false});
}

Term embedding_dropout_saved(const TrainingSetup& setup, const Dims& x) {
  if (setup.hidden_dropout <= 0.0) return {};
  return {"embedding_dropout_mask", checked_mul(x.Tn, x.h),
          fmt::format("1·T·h: bool keep mask of the embedding's dropout (p = {:g})", setup.hidden_dropout),
          "Megatron core/models/common/embeddings/language_model_embedding.py (embedding_dropout = Dropout(hidden_dropout)); "
          "aten native_dropout (CUDA) saves a bool mask",
          true};
}

}  // namespace vramcalc
