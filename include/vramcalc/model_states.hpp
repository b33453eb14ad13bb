#pragma once
/// Weights, gradients, master weights and optimizer states, and what the optimizer step
/// allocates on top of them (ZeRO, arXiv:1910.02054 §3.1; torch/optim).

#include <vramcalc/model.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// Bytes per element each precision regime stores.
struct PrecisionBytes {
  Bytes weight = 0;    ///< the model's parameters
  Bytes grad = 0;      ///< param.grad
  Bytes master = 0;    ///< fp32 master copy (0 when the regime has none)
  Bytes state = 0;     ///< optimizer state element (the dtype the optimizer steps in)
  Bytes residual = 0;  ///< residual-stream activations (fp32 under autocast)
  Bytes compute = 0;   ///< matmul inputs/outputs saved for backward
};
PrecisionBytes precision_bytes(Precision precision);

/// Model states of one replica (no sharding). Terms with 0 bytes do not apply.
struct ModelStates {
  Term weights;
  Term master_weights;
  Term gradients;
  Term optimizer_states;
  Term optimizer_step_temp;  ///< transient while optimizer.step() runs
  Term grad_fp32_copy;       ///< mixed: fp32 copy of the gradients made for the step
  Term autocast_cache;       ///< amp: bf16 casts of the weights, forward to backward
  Term paged_states;         ///< bitsandbytes paged optimizers: states in CUDA unified memory (not allocated)
};

ModelStates model_states(const ParameterCounts& params, const TrainingSetup& setup);

}  // namespace vramcalc
