// Applying a {field id, value} change to EstimateInputs: the one place that maps field ids
// back onto the library's fields, so advice, the planner and its layout list share it.
#include <vramcalc/change.hpp>

#include <cctype>
#include <cmath>
#include <string>

#include <vramcalc/error.hpp>
#include <vramcalc/model_head.hpp>

#include "core/zero_knobs.hpp"

namespace vramcalc {
namespace {

std::uint64_t positive(const Advice::Change& c) {
  const std::string& v = c.value;
  if (v.empty() || v.size() > 19) throw InputError(c.field, v, "expected a positive integer");
  for (char ch : v) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) throw InputError(c.field, v, "expected a positive integer");
  }
  const std::uint64_t n = std::stoull(v);
  if (n == 0) throw InputError(c.field, v, "must be a positive integer");
  return n;
}

bool boolean(const Advice::Change& c) {
  if (c.value == "true") return true;
  if (c.value == "false") return false;
  throw InputError(c.field, c.value, "expected true or false");
}

std::uint64_t count(const Advice::Change& c) {
  return c.value == "0" ? 0 : positive(c);
}

double probability(const Advice::Change& c) {
  std::size_t used = 0;
  double p = -1.0;
  try {
    p = std::stod(c.value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != c.value.size() || c.value.empty() || !(p >= 0.0 && p < 1.0)) throw InputError(c.field, c.value, "expected a probability in [0, 1)");
  return p;
}

// A finite decimal number (its range is checked where the field is validated).
double number(const Advice::Change& c) {
  std::size_t used = 0;
  double v = 0.0;
  try {
    v = std::stod(c.value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != c.value.size() || c.value.empty() || !std::isfinite(v)) throw InputError(c.field, c.value, "expected a number");
  return v;
}

std::uint64_t adapter_dtype(const Advice::Change& c) {
  if (c.value == "fp32") return 4;
  if (c.value == "bf16" || c.value == "fp16") return 2;
  throw InputError(c.field, c.value, "expected fp32, bf16 or fp16");
}

// LoRA fields (vramcalc/adapters.hpp); false when `c` names none of them.
bool apply_lora(LoraSetup& l, const Advice::Change& c) {
  const std::string& f = c.field;
  if (f == field::kLoraRank) l.rank = count(c);
  else if (f == field::kLoraTargets) l.targets = parse_lora_targets(c.value);
  else if (f == field::kLoraDropout) l.dropout = probability(c);
  else if (f == field::kLoraDtype) l.adapter_bytes = adapter_dtype(c);
  else if (f == field::kBaseQuant) l.base_quant = parse_base_quant(c.value);
  else if (f == field::kDoubleQuant) l.double_quant = boolean(c);
  else if (f == field::kKbitUpcast) l.kbit_upcast = boolean(c);
  else if (f == field::kLoraDora) l.dora = boolean(c);
  else return false;
  return true;
}

// Fields of the training setup; false when `c` names none of them.
bool apply_setup(TrainingSetup& s, const Advice::Change& c) {
  const std::string& f = c.field;
  if (f == field::kSeqLen) s.seq_len = positive(c);
  else if (f == field::kMicroBatch) s.micro_batch = positive(c);
  else if (f == field::kGradAccum) s.grad_accum = positive(c);
  else if (f == field::kLossChunks) s.loss_chunks = positive(c);
  else if (f == field::kPrecision) s.precision = parse_precision(c.value);
  else if (f == field::kOptimizer) s.optimizer = parse_optimizer(c.value);
  else if (f == field::kAttention) s.attention = parse_attention(c.value);
  else if (f == field::kGradCkpt) s.grad_ckpt = parse_grad_ckpt(c.value);
  else if (f == field::kLoss) s.loss = parse_loss(c.value);
  else if (f == field::kKernels) s.kernels = kernel_set_of(parse_kernel_preset(c.value));
  else if (f == field::kFusedNorm) s.kernels.fused_norm = boolean(c);
  else if (f == field::kFusedRope) s.kernels.fused_rope = boolean(c);
  else if (f == field::kFusedSwiglu) s.kernels.fused_swiglu = boolean(c);
  else if (f == field::kOptimizerInBackward) s.optimizer_in_backward = boolean(c);
  else if (f == field::kAcEvery) s.ac_every = positive(c);
  else if (f == field::kInfer) s.infer = boolean(c);
  else if (f == field::kKvDtype) s.kv_bytes = parse_kv_dtype(c.value);
  else if (f == field::kOffloadActivations) s.offload_activations = boolean(c);
  else if (f == field::kCompile) s.compile = parse_compile(c.value);
  else if (f == field::kHiddenDropout) s.hidden_dropout = probability(c);
  else if (f == field::kFp8) s.fp8 = parse_fp8(c.value);
  else if (f == field::kFp8AmaxHistory) s.fp8_amax_history = positive(c);
  else if (f == field::kFp8ParamGather) s.fp8_param_gather = boolean(c);
  else if (f == field::kTargetSeq) s.target_seq = positive(c);
  else if (f == field::kDropout) s.dropout = probability(c);
  else return apply_lora(s.lora, c);
  return true;
}

void set_zero_stage(EstimateInputs& in, const Advice::Change& c) {
  if (c.value.size() != 1 || c.value[0] < '0' || c.value[0] > '3') throw InputError(c.field, c.value, "expected 0, 1, 2 or 3");
  const ZeroSettings old = in.layout.zero;
  ZeroSettings z = default_zero_settings(c.value[0] - '0', in.model.hidden_size, true);
  z.offload_optimizer = old.offload_optimizer;
  z.offload_param = old.offload_param;
  in.layout.zero = z;
}

// Tensor, context and pipeline parallelism; false when `c` names none of them.
bool apply_model_parallel_change(ParallelLayout& l, const Advice::Change& c) {
  const std::string& f = c.field;
  if (f == field::kTp) l.tp = positive(c);
  else if (f == field::kSp) l.sp = boolean(c);
  else if (f == field::kCp) l.cp = positive(c);
  else if (f == field::kPp) l.pp = positive(c);
  else if (f == field::kPpSchedule) l.pp_schedule = parse_pipeline_schedule(c.value);
  else if (f == field::kMicrobatches) l.microbatches = positive(c);
  else if (f == field::kVirtualStages) l.virtual_stages = positive(c);
  else if (f == field::kMegatron) l.megatron = parse_megatron_optimizer(c.value);
  else if (f == field::kTpCommOverlap) l.tp_comm_overlap = boolean(c);
  else return false;
  return true;
}

// FSDP's fields (--fsdp, --reshard-after-forward, --param-dtype, --reduce-dtype); false when
// `c` names none of them.
bool apply_fsdp(FsdpSettings& f, const Advice::Change& c) {
  auto dtype = [&]() -> Bytes {
    if (c.value == "bf16") return 2;
    if (c.value == "fp32") return 4;
    throw InputError(c.field, c.value, "expected bf16 or fp32");
  };
  if (c.field == field::kFsdp) {
    if (c.value != "0" && c.value != "1" && c.value != "2") {
      throw InputError(c.field, c.value, "expected 2 (FSDP2, fully_shard), 1 (FSDP1, FullyShardedDataParallel) or 0 (off)");
    }
    f.version = c.value[0] - '0';
  } else if (c.field == field::kReshardAfterForward) f.reshard_after_forward = boolean(c);
  else if (c.field == field::kParamDtype) f.param_dtype_bytes = dtype();
  else if (c.field == field::kReduceDtype) f.reduce_dtype_bytes = dtype();
  else if (c.field == field::kDpReplicate) f.replicate = positive(c);
  else if (c.field == field::kFsdpOffload) f.cpu_offload = boolean(c);
  else if (c.field == field::kFsdpWrap) {
    if (c.value != "blocks" && c.value != "none") throw InputError(c.field, c.value, "expected blocks (a unit per decoder block) or none (the root only)");
    f.wrap_blocks = c.value == "blocks";
  }
  else if (c.field == field::kFp8AllGather) {
    if (c.value != "on" && c.value != "off") throw InputError(c.field, c.value, "expected on or off");
    f.fp8_all_gather = c.value == "on";
  }
  else return false;
  return true;
}

}  // namespace

// Expert parallelism and the expert routing knobs (expert_parallel.cpp checks the ranges); false
// when `c` names none of them.
bool apply_moe_change(EstimateInputs& in, const Advice::Change& c) {
  const std::string& f = c.field;
  if (f == field::kEp) in.layout.ep = positive(c);
  else if (f == field::kMoeImbalance) in.setup.moe.imbalance = number(c);
  else if (f == field::kMoeCapacityFactor) in.setup.moe.capacity_factor = number(c);
  else if (f == field::kMoePadToCapacity) in.setup.moe.pad_to_capacity = boolean(c);
  else return false;
  return true;
}

void apply_change(EstimateInputs& in, const Advice::Change& c) {
  if (apply_setup(in.setup, c)) return;
  const std::string& f = c.field;
  ZeroSettings& z = in.layout.zero;
  if (f == field::kZeroStage) set_zero_stage(in, c);
  else if (f == field::kOffloadOptimizer) z.offload_optimizer.device = parse_offload_device(c.value, f);
  else if (f == field::kOffloadParam) z.offload_param.device = parse_offload_device(c.value, f);
  else if (f == field::kZeroInit) z.zero3_init = boolean(c);
  else if (f == field::kGpus) in.layout.gpus = positive(c);
  else if (f == field::kGpusPerNode) in.layout.gpus_per_node = positive(c);
  else if (f == field::kInterconnect) in.layout.interconnect = parse_interconnect(c.value);
  else if (f == field::kNcclChannels) in.layout.nccl_channels = positive(c);
  else if (apply_model_parallel_change(in.layout, c)) return;
  else if (apply_fsdp(in.layout.fsdp, c)) return;
  else if (f == field::kHead) set_model_head(in.model, parse_model_head(c.value));
  else if (f == field::kNumLabels) set_num_labels(in.model, positive(c));
  else if (apply_moe_change(in, c)) return;
  else if (apply_zero_knob(z, f, c.value)) return;
  else throw InputError(f, c.value, "not a field a change can set");
}

EstimateInputs with_changes(EstimateInputs inputs, const std::vector<Advice::Change>& changes) {
  for (const auto& c : changes) apply_change(inputs, c);
  return inputs;
}

}  // namespace vramcalc
