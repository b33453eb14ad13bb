// transformers loss/loss_utils.py ForCausalLMLoss (5.24), when the model gets `labels`:
//   labels = nn.functional.pad(labels, (0, 1), value=ignore_index)   # a new b × (s+1) int64 tensor
//   shift_labels = labels[..., 1:].contiguous()                      # b = 1: a view (contiguous already);
//                                                                    # b > 1: a new b × s int64 copy
//   shift_labels.view(-1) → cross_entropy → nll_loss, whose backward saves `target`
//   (torch tools/autograd/derivatives.yaml nll_loss_forward: nll_loss_backward(..., target, ...)).
// The padded tensor is a local of ForCausalLMLoss: alive until it returns, so both copies are
// alive at the loss forward peak; after it returns only the saved target's storage is left
// (the padded one itself when b = 1). Measured (tools/measure/FINDINGS.md §41): the fw.loss
// window's non-activation saved bytes are 8·(s+1) for b = 1 and 8·b·s for b > 1, and the
// forward peak holds 8·b·(s+1) + 8·b·s more than the backward peak for b > 1.
#include "core/loss_labels.hpp"

#include <fmt/format.h>

namespace vramcalc {

ShiftedLabels shifted_labels(const ModelConfig& m, const TrainingSetup& setup) {
  // BertForMaskedLM / the classification heads / T5 pass labels.view(-1): no new tensor.
  if (m.head != ModelHead::kLm || m.loss_in_logits_dtype || m.encoder_decoder()) return {};
  const Bytes b = setup.micro_batch, s = setup.seq_len;
  const Bytes padded = checked_product({8, b, s + 1});
  const Bytes shifted = b == 1 ? 0 : checked_product({8, b, s});  // .contiguous() copies only when b > 1
  ShiftedLabels out;
  out.forward = checked_add(padded, shifted);
  out.saved = b == 1 ? padded : shifted;
  out.formula = b == 1 ? fmt::format("8·b·(s+1) padded int64 labels (b = 1: the shifted labels are a view of them; s = {})", s)
                       : fmt::format("8·b·(s+1) padded + 8·b·s shifted int64 labels in the forward, 8·b·s saved (b = {}, s = {})", b, s);
  out.source = "transformers loss/loss_utils.py ForCausalLMLoss (pad(labels, (0, 1)), labels[..., 1:].contiguous()); "
               "torch derivatives.yaml nll_loss_forward (saves target)";
  return out;
}

}  // namespace vramcalc
