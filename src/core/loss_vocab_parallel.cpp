// Megatron-LM's vocab-parallel cross-entropy (NVIDIA/Megatron-LM @d98e8a64,
// megatron/core/tensor_parallel/cross_entropy.py _VocabParallelCrossEntropy, called by
// core/models/common/language_module/language_module.py compute_language_model_loss on the
// output layer's [s, b, V/tp] logits). N = T·V logits of the rank's vocabulary shard.
//   forward:  `vocab_parallel_logits.float()` is the only logits-sized allocation (a no-op on
//             fp32 logits); max is subtracted in place, `torch.exp(x, out=x)`, `div_` in place:
//             the softmax is that fp32 copy. The bf16 logits stay referenced by the caller
//             until the loss returns (GPTModel._postprocess), then nothing keeps them.
//   saved:    the fp32 softmax, target_mask (bool T) and masked_target (int64 T).
//   backward: the gradient is written into the saved softmax in place (`grad_2d[...] -=`,
//             `mul_`), plus `1.0 - target_mask.float()` (fp32 T); the `.float()`'s backward
//             casts it to the logits dtype (el·N) while the fp32 one is alive.
#include "core/loss_vocab_parallel.hpp"

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr const char* kSource =
    "Megatron-LM core/tensor_parallel/cross_entropy.py _VocabParallelCrossEntropy (logits.float(), in-place exp and div_, "
    "ctx.save_for_backward(exp_logits, target_mask, masked_target_1d); grad written into the softmax in place)";

}  // namespace

LogitsLoss vocab_parallel_loss(const ModelConfig& m, Bytes T, Bytes el) {
  if (m.final_logit_softcapping > 0.0) {
    throw InputError(field::kLoss, "vocab-parallel", "Megatron's vocab-parallel cross-entropy applies no logit soft-cap (the model has one)");
  }
  const Bytes V = m.vocab_size;
  const Bytes N = checked_mul(T, V);
  const Bytes copy = el == 4 ? 0 : 4;                // the fp32 copy (a no-op on fp32 logits)
  const Bytes ids = checked_mul(T, 1 + 8);           // bool target_mask + int64 masked_target
  const Bytes cast = el == 4 ? 0 : checked_mul(N, el);  // the gradient cast back to the logits dtype
  LogitsLoss out;
  out.forward = {"logits_loss", checked_add(checked_mul(N, el + copy), checked_add(ids, checked_mul(T, 4))),
                 fmt::format("{}·N logits + {}·N fp32 copy (max, exp and the softmax in place) + 9·T target mask and ids + 4·T row "
                             "maxima (N = T·V = {} × {})",
                             el, copy, T, V),
                 kSource, true};
  out.saved = {"logits_loss", checked_add(checked_mul(N, 4), ids),
               fmt::format("4·N fp32 softmax + 9·T target mask and ids (N = {} × {})", T, V), kSource, true};
  out.backward = {"logits_loss", checked_add(checked_add(checked_mul(N, 4), cast), checked_add(ids, checked_mul(T, 4))),
                  fmt::format("4·N gradient written into the saved softmax + {}·N its cast to the logits dtype + 9·T ids + 4·T "
                              "softmax_update (N = {} × {})",
                              cast == 0 ? 0 : el, T, V),
                  kSource + std::string("; the .float() backward (ToCopyBackward) casts the gradient"), true};
  return out;
}

}  // namespace vramcalc
