// Model states per precision regime and optimizer (ZeRO, arXiv:1910.02054 §3.1; torch/optim).
#include <vramcalc/model_states.hpp>

#include <algorithm>

#include <fmt/format.h>

#include "core/low_bit_optim.hpp"

namespace vramcalc {

PrecisionBytes precision_bytes(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return {4, 4, 0, 4, 4, 4};
    case Precision::kAmp: return {4, 4, 0, 4, 4, 2};
    case Precision::kMixed: return {2, 2, 4, 4, 2, 2};
    case Precision::kBf16: return {2, 2, 0, 2, 2, 2};
  }
  return {};
}

namespace {

constexpr const char* kZeroPaper = "ZeRO, Rajbhandari et al. 2020 (arXiv:1910.02054) §3.1";

std::string per_param(const char* symbol, std::uint64_t params, Bytes bytes_per) {
  return fmt::format("{} × {} B = {} × {}", symbol, bytes_per, group_digits(params), bytes_per);
}

// HF Adafactor (beta1=None): factored fp32 second moment, a row and a column vector per matrix,
// a full fp32 vector for 1-D parameters.
Bytes adafactor_state_bytes(const ParameterCounts& pc) {
  Bytes total = 0;
  for (const auto& t : pc.tensors) {
    const Bytes per_tensor = t.cols > 1 ? 4 * (t.rows + t.cols) : 4 * t.numel();
    total = checked_add(total, checked_mul(per_tensor, t.count));
  }
  return total;
}

Term optimizer_states_term(const ParameterCounts& pc, const TrainingSetup& setup, const PrecisionBytes& pb) {
  const std::uint64_t P = pc.total;
  Term t{"optimizer_states", 0, "", "", false};
  if (const LowBitAdam* row = find_low_bit(setup.optimizer)) return low_bit_states(*row, pc, pb.state).allocated;
  switch (setup.optimizer) {
    case Optimizer::kAdamW:
    case Optimizer::kAdamWFused:
      t.bytes = checked_mul(P, 2 * pb.state);
      t.formula = fmt::format("exp_avg + exp_avg_sq: {}", per_param("P", P, 2 * pb.state));
      t.source = fmt::format("torch/optim/adamw.py (state exp_avg, exp_avg_sq in the dtype stepped); {}", kZeroPaper);
      break;
    case Optimizer::kSgd:
      t.formula = "plain SGD keeps no state";
      t.source = "torch/optim/sgd.py";
      break;
    case Optimizer::kSgdMomentum:
      t.bytes = checked_mul(P, pb.state);
      t.formula = fmt::format("momentum_buffer: {}", per_param("P", P, pb.state));
      t.source = "torch/optim/sgd.py (state momentum_buffer)";
      break;
    case Optimizer::kAdafactor:
      t.bytes = adafactor_state_bytes(pc);
      t.formula = "Σ matrices 4·(rows + cols) + Σ vectors 4·n (fp32 factored exp_avg_sq; beta1=None)";
      t.source = "transformers optimization.py Adafactor; Shazeer & Stern 2018 (arXiv:1804.04235) §3";
      break;
    case Optimizer::kLion:
      t.bytes = checked_mul(P, pb.state);
      t.formula = fmt::format("exp_avg: {}", per_param("P", P, pb.state));
      t.source = "Lion, Chen et al. 2023 (arXiv:2302.06675) Alg. 1; lion-pytorch";
      break;
    default: break;  // the low-bit and paged AdamW variants: low_bit_optim.cpp
  }
  return t;
}

Term step_temp_term(const ParameterCounts& pc, const TrainingSetup& setup, const PrecisionBytes& pb) {
  const std::uint64_t P = pc.total;
  const std::uint64_t n_max = pc.largest_tensor;
  Term t{"optimizer_step_temp", 0, "", "", false};
  if (const LowBitAdam* row = find_low_bit(setup.optimizer)) return low_bit_step_temp(*row, n_max);
  switch (setup.optimizer) {
    case Optimizer::kAdamW:
      if (setup.optimizer_in_backward) {
        t.bytes = checked_mul(n_max, pb.state);
        t.formula = fmt::format("one optimizer per parameter: foreach sqrt() of one tensor at a time, at most {} B × {}", pb.state, group_digits(n_max));
        t.source = "torch/optim/adamw.py _multi_tensor_adamw over a one-tensor list; torchtune modules/optim.py OptimizerInBackward";
        break;
      }
      t.bytes = checked_mul(P, pb.state);
      t.formula = fmt::format("foreach exp_avg_sq.sqrt() tensor list: {}", per_param("P", P, pb.state));
      t.source = "torch/optim/adamw.py _multi_tensor_adamw; torch.optim.Adam docs: foreach uses ~sizeof(params) more peak memory";
      break;
    case Optimizer::kAdafactor: {
      const bool low_precision_params = pb.weight == 2 && pb.master == 0;
      const Bytes copies = low_precision_params ? 4 : 2;
      t.bytes = checked_product({copies, 4, n_max});
      t.formula = fmt::format("{} fp32 temporaries of the largest tensor: {} × 4 B × {}{}", copies, copies,
                              group_digits(n_max), low_precision_params ? " (grad.float(), p.float(), update, outer product)" : " (update, outer product)");
      t.source = "transformers optimization.py Adafactor.step (per-parameter loop)";
      t.estimated = true;
      break;
    }
    case Optimizer::kLion:
      t.bytes = checked_product({2, pb.state, n_max});
      t.formula = fmt::format("2 temporaries of the largest tensor: 2 × {} B × {}", pb.state, group_digits(n_max));
      t.source = "lion-pytorch update_fn (exp_avg.clone().mul_().add(grad).sign_())";
      t.estimated = true;
      break;
    default:
      t.formula = fmt::format("{}: updates in place, no parameter-sized temporary", to_string(setup.optimizer));
      t.source = "torch/optim (fused / in-place foreach ops)";
      break;
  }
  return t;
}


ModelStates states_of(const ParameterCounts& pc, const TrainingSetup& setup, const PrecisionBytes& pb) {
  const std::uint64_t P = pc.total;
  const char* regime = to_string(setup.precision);
  ModelStates s;
  s.weights = {"weights", checked_mul(P, pb.weight), per_param("P", P, pb.weight),
               fmt::format("{} regime: parameters in {}; {}", regime, pb.weight == 4 ? "fp32" : "bf16", kZeroPaper)};
  s.gradients = {"gradients", checked_mul(P, pb.grad), per_param("P", P, pb.grad),
                 "param.grad has the parameter's dtype (torch autograd AccumulateGrad)"};
  s.master_weights = {"master_weights", checked_mul(P, pb.master),
                      pb.master ? per_param("P", P, pb.master) : "no fp32 master copy in this regime",
                      pb.master ? fmt::format("fp32 master copy (mixed precision); {}", kZeroPaper) : ""};
  s.optimizer_states = optimizer_states_term(pc, setup, pb);
  s.optimizer_step_temp = step_temp_term(pc, setup, pb);
  if (pb.master != 0) {
    s.grad_fp32_copy = {"grad_fp32_copy", checked_mul(P, 4), per_param("P", P, 4) + " (bf16 grads upcast for the fp32 step)",
                        "DeepSpeed runtime/zero/stage_1_and_2.py step (single_grad_partition .to(fp32))"};
  } else {
    s.grad_fp32_copy = {"grad_fp32_copy", 0, "the optimizer steps in the gradients' own dtype", ""};
  }
  if (setup.precision == Precision::kAmp) {
    s.autocast_cache = {"autocast_cache", checked_mul(pc.matmul_weights, 2),
                        fmt::format("bf16 casts of Linear weights incl. lm_head: P_linear × 2 B = {} × 2",
                                    group_digits(pc.matmul_weights)),
                        "aten/src/ATen/autocast_mode.cpp cached_cast (leaf fp32 weights cached until autocast exit; saved by matmuls)"};
  } else {
    s.autocast_cache = {"autocast_cache", 0, "no autocast in this regime", ""};
  }
  const LowBitAdam* row = find_low_bit(setup.optimizer);
  s.paged_states = row ? low_bit_states(*row, pc, pb.state).paged : Term{"paged_optimizer_states", 0, "not a paged optimizer", ""};
  return s;
}

// The weights of a LoRA run: the frozen base in the regime's dtype (its decoder Linears
// quantized with a QLoRA base, the rest fp32 after prepare_model_for_kbit_training), the
// adapters in their dtype.
Term frozen_weights_term(const ParameterCounts& pc, const TrainingSetup& setup, std::uint64_t trainable, Bytes a) {
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const std::uint64_t quantized = quantized_parameters(pc);
  const std::uint64_t upcast = kbit_upcast_parameters(pc);
  const std::uint64_t frozen = pc.total - trainable - quantized - upcast;
  const std::string quant_part = quantized == 0 ? std::string()
      : fmt::format(" + {} {}: {}", group_digits(quantized), to_string(setup.lora.base_quant),
                    quantized_formula(setup.lora.base_quant, setup.lora.double_quant));
  const std::string upcast_part = upcast == 0 ? std::string() : fmt::format(" + {} upcast to fp32 × 4 B", group_digits(upcast));
  std::string source = fmt::format("{} regime: frozen base in {}, trainable parameters (adapters) in their dtype; peft tuners/lora/layer.py "
                                   "LoraLayer.update_layer (+ _cast_adapter_dtype: fp32 by default since 0.12)",
                                   to_string(setup.precision), pb.weight == 4 ? "fp32" : "bf16");
  if (quantized != 0) source += std::string("; ") + quantized_source(setup.lora.base_quant);
  if (upcast != 0) {
    source += "; peft utils/other.py prepare_model_for_kbit_training: every fp16/bf16 parameter that is not Params4bit "
              "(embeddings, norms, lm_head) cast to fp32";
  }
  return {"weights", stored_weight_bytes(pc, pb.weight, setup.lora),
          fmt::format("frozen base + trainable: {} × {} B{}{} + {} × {} B", group_digits(frozen), pb.weight, quant_part, upcast_part,
                      group_digits(trainable), a),
          source};
}

// A frozen base (LoRA): gradients, optimizer states and step temporaries of the trainable
// tensors only, in their own dtype; the weights are the frozen base in the regime's dtype plus
// the adapters (peft tuners/tuners_utils.py _mark_only_adapters_as_trainable: requires_grad
// False, so autograd makes no .grad and the optimizer gets only the adapters).
ModelStates frozen_base_states(const ParameterCounts& pc, const TrainingSetup& setup) {
  const PrecisionBytes pb = precision_bytes(setup.precision);
  ParameterCounts view;
  Bytes a = pb.weight;
  for (const auto& t : pc.tensors) {
    if (!t.trainable) continue;
    view.tensors.push_back(t);
    view.total = checked_add(view.total, t.total());
    view.largest_tensor = std::max(view.largest_tensor, t.numel());
    if (t.dtype_bytes != 0) a = t.dtype_bytes;
  }
  view.trainable = view.total;
  PrecisionBytes apb = pb;
  apb.weight = a;
  apb.grad = a;
  apb.state = a;
  ModelStates s = states_of(view, setup, apb);
  s.weights = frozen_weights_term(pc, setup, view.total, a);
  s.gradients.formula = fmt::format("trainable only: {}", per_param("P_t", view.total, a));
  s.gradients.source = "param.grad only for requires_grad parameters, in their dtype (torch autograd AccumulateGrad)";
  return s;
}

}  // namespace

ModelStates model_states(const ParameterCounts& pc, const TrainingSetup& setup) {
  if (pc.trainable != pc.total) return frozen_base_states(pc, setup);
  return states_of(pc, setup, precision_bytes(setup.precision));
}

}  // namespace vramcalc
