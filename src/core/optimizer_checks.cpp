// Optimizer settings that contradict the rest of the inputs: errors, not silent wrong numbers.
#include "core/optimizer_checks.hpp"

#include <vramcalc/error.hpp>

#include "core/low_bit_optim.hpp"

namespace vramcalc {
namespace {

// ZeRO hands the optimizer flat partitions instead of the model's tensors, which changes which
// tensors bitsandbytes / torchao quantize or page (their size rules are per tensor).
void check_low_bit(const EstimateInputs& in) {
  const Optimizer o = in.setup.optimizer;
  if (o == Optimizer::kAdamW8bit || find_low_bit(o) == nullptr) return;
  if (in.layout.zero.stage > 0) {
    throw InputError(field::kOptimizer, to_string(o),
                     "needs ZeRO stage 0 (one GPU or DDP): ZeRO's flat partitions change which tensors are quantized or paged");
  }
}

// torchtune's OptimizerInBackward (modules/optim.py): one optimizer per parameter, stepped in its
// post-accumulate-grad hook; the recipes reject gradient accumulation with it.
void check_in_backward(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  if (!s.optimizer_in_backward) return;
  if (s.grad_accum > 1) {
    throw InputError(field::kOptimizerInBackward, "true",
                     "cannot accumulate gradients: each gradient is stepped and freed as soon as it is made (use one accumulation step)");
  }
  if (s.precision == Precision::kMixed) {
    throw InputError(field::kOptimizerInBackward, "true",
                     "needs the optimizer to step the parameters themselves (precision fp32, amp or bf16), not a DeepSpeed fp32 master copy");
  }
  if (in.layout.gpus > 1 || in.layout.zero.stage > 0) {
    throw InputError(field::kOptimizerInBackward, "true", "is modelled for one GPU without ZeRO (torchtune single-device recipes)");
  }
}

}  // namespace

void validate_optimizer(const EstimateInputs& in) {
  check_low_bit(in);
  check_in_backward(in);
}

}  // namespace vramcalc
