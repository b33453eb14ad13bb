// Advice: for the component that dominates the peak, the changes that shrink it, each kept
// only when re-estimating with it lowers the device total.
#include "core/advice.hpp"

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

// Re-estimates with one change and keeps it when it lowers the device peak. A change the
// layout rejects (ZeRO-3 with pipeline parallelism, a fused loss with tensor parallelism) is
// no advice.
void consider(Estimate& est, Advice::Change change, const std::string& what, const std::string& why, EstimateInputs variant) {
  variant.with_advice = false;
  Estimate after;
  try {
    after = estimate(variant);
  } catch (const InputError&) {
    return;
  }
  if (after.device_total < est.device_total) {
    est.advice.push_back({std::move(change), what, why, est.device_total, after.device_total});
  }
}

Bytes at_peak(const Estimate& est, std::initializer_list<ComponentId> ids) {
  Bytes total = 0;
  for (ComponentId id : ids) total += est.phases[est.peak_phase].bytes_of(id);
  return total;
}

void advise_activations(Estimate& est) {
  const EstimateInputs& in = est.inputs;
  const Bytes total = est.peak_allocated;
  if (in.setup.grad_ckpt != GradCkpt::kFull && at_peak(est, {ComponentId::kActivations, ComponentId::kLayerBackward}) * 3 >= total) {
    EstimateInputs v = in;
    v.setup.grad_ckpt = GradCkpt::kFull;
    consider(est, {field::kGradCkpt, "full"}, "gradient checkpointing", "activations are a third or more of the peak, and every rank holds its own", v);
  }
  if (in.setup.loss == LossImpl::kFull && at_peak(est, {ComponentId::kLogitsLoss}) * 5 >= total) {
    EstimateInputs v = in;
    const std::string why = "logits and loss gradients are a fifth or more of the peak";
    v.setup.loss = LossImpl::kFused;
    consider(est, {field::kLoss, "fused"}, "fused linear cross-entropy, e.g. Liger", why, v);
    v.setup.loss = LossImpl::kChunked;
    consider(est, {field::kLoss, "chunked"}, "chunked cross-entropy", why, v);
  }
}

void advise_states(Estimate& est) {
  const EstimateInputs& in = est.inputs;
  const ZeroSettings& z = in.layout.zero;
  const Bytes states = at_peak(est, {ComponentId::kWeights, ComponentId::kMasterWeights, ComponentId::kGradients,
                                     ComponentId::kOptimizerStates, ComponentId::kOptimizerStepTemp, ComponentId::kGradFp32Copy});
  if (states * 2 < est.peak_allocated) return;
  const std::string why = "model states are half or more of the peak";
  if (in.layout.gpus > 1 && z.stage < 3) {
    EstimateInputs v = in;
    v.layout.zero = default_zero_settings(3, in.model.hidden_size, true);
    v.layout.zero.zero3_init = true;
    consider(est, {field::kZeroStage, "3"}, "ZeRO-3: shard parameters, gradients and optimizer states", why, v);
  }
  if (z.stage >= 1) {
    EstimateInputs v = in;
    v.layout.gpus = in.layout.gpus * 2;
    consider(est, {field::kGpus, std::to_string(v.layout.gpus)}, "twice the ranks: each holds a smaller shard", why, v);
  }
  if (z.stage >= 1 && z.offload_optimizer.device == OffloadDevice::kNone) {
    EstimateInputs v = in;
    v.layout.zero.offload_optimizer.device = OffloadDevice::kCpu;
    consider(est, {field::kOffloadOptimizer, "cpu"}, "ZeRO-Offload: optimizer states and step in host RAM", why, v);
  }
  if (in.setup.optimizer == Optimizer::kAdamW) {
    EstimateInputs v = in;
    v.setup.optimizer = Optimizer::kAdamWFused;
    consider(est, {field::kOptimizer, "adamw-fused"}, "fused AdamW: no parameter-sized temporary at the step", why, v);
  }
}

}  // namespace

void add_advice(Estimate& est) {
  const EstimateInputs& in = est.inputs;
  const ZeroSettings& z = in.layout.zero;
  if (est.load_sets_peak() && z.stage == 3 && !z.zero3_init) {
    EstimateInputs v = in;
    v.layout.zero.zero3_init = true;
    consider(est, {field::kZeroInit, "true"}, "create the model under deepspeed.zero.Init (Accelerate zero3_init_flag: true)",
             "loading puts the whole model on every GPU before ZeRO-3 partitions it", v);
  }
  advise_activations(est);
  advise_states(est);
}

}  // namespace vramcalc
