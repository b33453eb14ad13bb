#pragma once
/// Logits and cross-entropy loss: the output stage's forward and backward peaks
/// (transformers loss/loss_utils.py ForCausalLMLoss and the chunked / fused variants).

#include <vramcalc/model.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

struct LogitsLoss {
  Term saved;     ///< kept for backward once the loss forward is done
  Term forward;   ///< live at the forward peak of the loss
  Term backward;  ///< live at the backward peak of the loss (start of backward)
  /// Freed before backward but too small for the loss backward's gradients: reserved and free
  /// while they are alive (estimated from the caching allocator's best-fit rule).
  Term hole{};
  /// Of `saved`: the int64 labels the loss keeps as nll_loss's target (not an activation; the
  /// harness's saved-activation count leaves them out). transformers ForCausalLMLoss only.
  Bytes labels_saved = 0;
};

LogitsLoss logits_loss(const ModelConfig& model, const TrainingSetup& setup);

}  // namespace vramcalc
