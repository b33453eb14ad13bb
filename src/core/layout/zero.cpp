// ZeRO stages 1-3 per rank (Rajbhandari et al. 2020, arXiv:1910.02054 §5) and the buffers
// DeepSpeed allocates around the partitions (runtime/zero/stage_1_and_2.py, stage3.py).
#include <algorithm>

#include <fmt/format.h>

#include "core/layout/policies.hpp"

namespace vramcalc {
namespace {

constexpr const char* kZeroPaper = "ZeRO (arXiv:1910.02054) §5";

Term shard(const Term& t, std::uint64_t n, const std::string& what) {
  Term out = t;
  if (n <= 1 || t.bytes == 0) return out;
  out.bytes = per_rank(t.bytes, n);
  out.formula = fmt::format("({}) / N, N = {}: {}", t.formula, n, what);
  out.source = t.source.empty() ? kZeroPaper : t.source + "; " + kZeroPaper;
  return out;
}

Term moved(const Term& t, const char* where) {
  Term out = t;
  if (t.bytes == 0) return out;
  out.bytes = 0;
  out.formula = fmt::format("offloaded to {} ({} there)", where, group_digits(t.bytes));
  return out;
}

const char* device_name(OffloadDevice d) { return d == OffloadDevice::kNvme ? "NVMe" : "host RAM"; }

// Stage 3's parameter partition: every module parameter; a frozen (possibly quantized) base in
// its stored bytes.
void zero3_weights(const StepContext& ctx, Term& weights) {
  const ParameterCounts& pc = ctx.params;
  const std::uint64_t N = ctx.layout.gpus;
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  Term& s_weights = weights;
  if (frozen_base(ctx)) {
    s_weights.bytes = zero3_weight_partition(ctx);
    s_weights.formula = fmt::format("⌈(stored {} − quant state {}) / {}⌉ + quant state: ZeRO-3 partition of the frozen base and adapters",
                                    group_digits(stored_model_bytes(ctx)), group_digits(quant_state_bytes(ctx)), N);
    s_weights.source = "DeepSpeed runtime/zero/partition_parameters.py (every module parameter, frozen too; Params4bit with "
                       "bnb_4bit_quant_storage=bfloat16 is a bf16-typed tensor); bitsandbytes nn/modules.py Params4bit.quant_state "
                       "(an attribute, not partitioned)";
  } else {
    s_weights.bytes = checked_mul(per_rank(pc.total, N), pb.weight);
    s_weights.formula = fmt::format("⌈P/N⌉ × {} B = ⌈{} / {}⌉ × {}: ZeRO-3 parameter partition", pb.weight,
                                    group_digits(pc.total), N, pb.weight);
    s_weights.source = "DeepSpeed runtime/zero/partition_parameters.py; " + std::string(kZeroPaper);
  }
}

// Stage 2 and 3 keep gradient partitions between steps; stage 3 also partitions parameters
// and steps one sub-group of the fp32 partition at a time.
void shard_gradients_and_params(const ZeroSettings& z, const StepContext& ctx, RankStates& r) {
  const std::uint64_t N = ctx.layout.gpus;
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  ModelStates& s = r.states;
  const bool lora = frozen_base(ctx);
  const std::uint64_t P = trained_params(ctx);
  const Bytes g = (z.stage == 3 && z.grad_accum_dtype_fp32) ? 4 : trained_bytes_per_param(ctx, pb.grad);
  s.gradients.bytes = checked_mul(per_rank(P, N), g);
  s.gradients.formula = fmt::format("⌈{}/N⌉ × {} B = ⌈{} / {}⌉ × {}: ZeRO-{} gradient partition, kept between steps{}", lora ? "P_t" : "P",
                                    g, group_digits(P), N, g, z.stage,
                                    lora ? " (trainable parameters only: the optimizer's param groups)" : "");
  s.gradients.source = z.stage == 3 ? "DeepSpeed runtime/zero/stage3.py (grad_partitions_flat_buffer)"
                                    : "DeepSpeed runtime/zero/stage_1_and_2.py (grads_in_partition)";
  r.gradients_persistent = true;
  if (z.stage != 3) return;
  zero3_weights(ctx, s.weights);
  const Bytes group = std::min(per_rank(P, N), z.sub_group_size);
  if (ctx.setup.optimizer == Optimizer::kAdamW && s.optimizer_step_temp.bytes > 0) {
    const Bytes st = trained_bytes_per_param(ctx, pb.state);
    s.optimizer_step_temp.bytes = checked_mul(group, st);
    s.optimizer_step_temp.formula = fmt::format(
        "min(⌈P/N⌉, sub_group_size) × {} B = {} × {}: foreach temporary of one sub-group", st, group_digits(group), st);
    s.optimizer_step_temp.source =
        "DeepSpeed runtime/zero/stage3.py step (per sub-group _optimizer_step); torch/optim/adamw.py foreach";
  }
  if (s.grad_fp32_copy.bytes > 0) {
    s.grad_fp32_copy.bytes = checked_mul(group, 4);
    s.grad_fp32_copy.formula = fmt::format(
        "min(⌈P/N⌉, sub_group_size) × 4 B = {} × 4: fp32 gradients of one sub-group at the step", group_digits(group));
    s.grad_fp32_copy.source = "DeepSpeed runtime/zero/stage3.py _prepare_fp32_grad_for_sub_group";
  }
}

// ZeRO-Offload / ZeRO-Infinity: what leaves the GPU.
void offload(const ZeroSettings& z, ModelStates& s) {
  const OffloadDevice opt = z.offload_optimizer.device;
  if (opt != OffloadDevice::kNone) {
    const double keep = z.stage == 3 ? 1.0 - z.offload_optimizer.ratio : 0.0;
    auto partial = [&](Term& t) {
      const Bytes total = t.bytes;
      t = moved(t, device_name(opt));
      if (keep > 0.0 && total > 0) {
        t.bytes = static_cast<Bytes>(static_cast<double>(total) * keep);
        t.formula = fmt::format("{:.0f}% of {} stays on the GPU (offload_optimizer.ratio {})", keep * 100.0,
                                group_digits(total), z.offload_optimizer.ratio);
      }
    };
    partial(s.master_weights);
    partial(s.optimizer_states);
    s.optimizer_step_temp = moved(s.optimizer_step_temp, "host (DeepSpeedCPUAdam steps on the CPU)");
    s.grad_fp32_copy = moved(s.grad_fp32_copy, "host RAM");
    if (z.stage >= 2) s.gradients = moved(s.gradients, "host RAM (gradient partitions are copied out during backward)");
  }
  if (z.offload_param.device != OffloadDevice::kNone) s.weights = moved(s.weights, device_name(z.offload_param.device));
}

// Stage 3's unsharded buffers over a frozen base: the largest stored module gathered, the
// largest adapter's full gradient (frozen tensors get none), persistent small tensors in their
// stored bytes, the reduce bucket in the adapters' dtype.
void frozen_stage3_buffers(const ZeroSettings& z, const StepContext& ctx, Bytes bucket, std::vector<Term>& out) {
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  const std::uint64_t prefetch = std::min(z.stage3_prefetch_bucket_size, z.stage3_max_live_parameters);
  const Bytes largest = largest_stored_tensor(ctx, false);
  out.push_back(component_term(ComponentId::kGatheredParams, checked_add(largest, checked_mul(prefetch, pb.weight)),
                               fmt::format("(largest stored tensor {} B + prefetch ≤ {} × {} B): gathered in full on every rank",
                                           group_digits(largest), group_digits(prefetch), pb.weight),
                               "DeepSpeed runtime/zero/partitioned_param_coordinator.py fetch_sub_module (stage3_prefetch_bucket_size)",
                               true));
  const Bytes a = trained_bytes_per_param(ctx, pb.grad);
  const std::uint64_t adapter = largest_trained_tensor(ctx);
  out.push_back(component_term(ComponentId::kGatheredGrad, checked_mul(adapter, a),
                               fmt::format("largest trainable tensor {} × {} B: its full gradient before reduce-scatter (frozen tensors have none)",
                                           group_digits(adapter), a),
                               "DeepSpeed runtime/zero/stage3.py reduce_partition_and_remove_grads (full param.grad first)", true));
  Bytes persistent = 0;
  std::uint64_t numel = 0;
  for (const auto& t : ctx.params.tensors) {
    if (t.numel() > z.stage3_param_persistence_threshold || numel + t.total() > z.stage3_model_persistence_threshold) continue;
    numel += t.total();
    persistent = checked_add(persistent, checked_mul(stored_tensor_bytes(ctx, t), t.count));
  }
  out.push_back(component_term(ComponentId::kPersistentParams, persistent,
                               fmt::format("{} params with numel ≤ {} (stage3_param_persistence_threshold) in their stored bytes, full copies",
                                           group_digits(numel), group_digits(z.stage3_param_persistence_threshold)),
                               "DeepSpeed runtime/zero/parameter_offload.py mark_persistent_parameters"));
  out.push_back(component_term(ComponentId::kReduceBucket, z.contiguous_gradients ? checked_mul(bucket, a) : 0,
                               fmt::format("reduce_bucket_size {} × {} B (contiguous_gradients; allocated whole, whatever P_t)",
                                           group_digits(bucket), a),
                               "DeepSpeed runtime/zero/stage3.py (ipg_buckets: bucket.buffer = torch.empty(self.reduce_bucket_size))"));
}

// Stage 3's unsharded buffers: gathered modules, their full gradients, persistent parameters.
void stage3_buffers(const ZeroSettings& z, const StepContext& ctx, Bytes bucket, std::vector<Term>& out) {
  if (frozen_base(ctx)) return frozen_stage3_buffers(z, ctx, bucket, out);
  const ParameterCounts& pc = ctx.params;
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  const std::uint64_t prefetch = std::min(z.stage3_prefetch_bucket_size, z.stage3_max_live_parameters);
  out.push_back(component_term(ComponentId::kGatheredParams, checked_mul(checked_add(pc.largest_module, prefetch), pb.weight),
                               fmt::format("(largest module {} + prefetch ≤ {}) × {} B: gathered in full on every rank",
                                           group_digits(pc.largest_module), group_digits(prefetch), pb.weight),
                               "DeepSpeed runtime/zero/partitioned_param_coordinator.py fetch_sub_module (stage3_prefetch_bucket_size)",
                               true));
  out.push_back(component_term(ComponentId::kGatheredGrad, checked_mul(pc.largest_module, pb.grad),
                               fmt::format("largest module {} × {} B: its full gradient before reduce-scatter",
                                           group_digits(pc.largest_module), pb.grad),
                               "DeepSpeed runtime/zero/stage3.py reduce_partition_and_remove_grads (full param.grad first)", true));
  std::uint64_t persistent = 0;
  for (const auto& t : pc.tensors) {
    if (t.numel() <= z.stage3_param_persistence_threshold) persistent += t.total();
  }
  persistent = std::min(persistent, z.stage3_model_persistence_threshold);
  out.push_back(component_term(ComponentId::kPersistentParams, checked_mul(persistent, pb.weight),
                               fmt::format("{} params with numel ≤ {} (stage3_param_persistence_threshold) × {} B, full copies",
                                           group_digits(persistent), group_digits(z.stage3_param_persistence_threshold), pb.weight),
                               "DeepSpeed runtime/zero/parameter_offload.py mark_persistent_parameters"));
  out.push_back(component_term(ComponentId::kReduceBucket, z.contiguous_gradients ? checked_mul(bucket, pb.grad) : 0,
                               fmt::format("reduce_bucket_size {} × {} B (contiguous_gradients)", group_digits(bucket), pb.grad),
                               "DeepSpeed runtime/zero/stage3.py (ipg_buckets: bucket.buffer = torch.empty(self.reduce_bucket_size))"));
}

// Bytes of one decoder layer's largest tensor plus the prefetch: what stage 3 gathers inside
// the stack.
Bytes gathered_layer_bytes(const ZeroSettings& z, const StepContext& ctx) {
  std::uint64_t largest = 0;
  for (const auto& t : ctx.params.tensors) {
    if (t.scope == ParamScope::kLayer) largest = std::max(largest, t.numel());
  }
  const std::uint64_t prefetch = std::min(z.stage3_prefetch_bucket_size, z.stage3_max_live_parameters);
  if (frozen_base(ctx)) {
    return checked_add(largest_stored_tensor(ctx, true), checked_mul(prefetch, precision_bytes(ctx.setup.precision).weight));
  }
  return checked_mul(largest + prefetch, precision_bytes(ctx.setup.precision).weight);
}

// Stages 1-2: the gradient hook (process_gradients) calls setup_buckets on every rank, whatever
// the world size: with contiguous_gradients (forced on by optimizer offload) one
// torch.empty(reduce_bucket_size) in the optimizer's parameter dtype, a second with overlap_comm
// (either stage); freed by _release_ipg_buffers at the end of backward.
Term stage12_reduce_bucket(const ZeroSettings& z, Bytes ipg, Bytes g) {
  const bool contiguous = z.contiguous_gradients || z.offload_optimizer.device != OffloadDevice::kNone;
  const Bytes copies = !contiguous ? 0 : z.overlap_comm ? 2 : 1;
  return component_term(ComponentId::kReduceBucket, checked_product({copies, ipg, g}),
                        contiguous ? fmt::format("{} × reduce_bucket_size {} × {} B{} (allocated whole, on every world size)", copies,
                                                 group_digits(ipg), g, copies == 2 ? " (overlap_comm double-buffers)" : "")
                                   : std::string("0: contiguous_gradients off, gradients reduced where they are"),
                        "DeepSpeed runtime/zero/stage_1_and_2.py process_gradients → setup_buckets (torch.empty(reduce_bucket_size, "
                        "dtype=self.dtype) per buffer, buf_1 if overlap_comm; no world-size test)");
}

bool is_layer_backward(Instant i) {
  return i == Instant::kBackwardLastMlp || i == Instant::kBackwardFirstMlp || i == Instant::kBackwardLastAttn ||
         i == Instant::kBackwardFirstAttn;
}

}  // namespace

RankStates ZeroPolicy::rank_states(const StepContext& ctx, const ModelStates& full) const {
  const std::uint64_t N = ctx.layout.gpus;
  RankStates r{full, false, {}};
  ModelStates& s = r.states;
  s.master_weights = shard(full.master_weights, N, "ZeRO-1 shards the fp32 master copy");
  s.optimizer_states = shard(full.optimizer_states, N, "ZeRO-1 shards optimizer states");
  s.optimizer_step_temp = shard(full.optimizer_step_temp, N, "the step runs on this rank's partition");
  s.grad_fp32_copy = shard(full.grad_fp32_copy, N, "fp32 copy of this rank's gradient partition");
  if (z_.stage >= 2) shard_gradients_and_params(z_, ctx, r);
  offload(z_, s);

  const Bytes g = trained_bytes_per_param(ctx, precision_bytes(ctx.setup.precision).grad);
  // The reduce bucket (ipg buffer) is allocated whole, however few parameters fill it; one
  // reduce-scatter holds at most what is trained.
  const Bytes ipg = z_.reduce_bucket_size;
  const Bytes bucket = std::min<Bytes>(ipg, frozen_base(ctx) ? trained_params(ctx) : ctx.params.total);
  if (z_.stage == 3) {
    stage3_buffers(z_, ctx, ipg, r.buffers);
  } else {
    r.buffers.push_back(stage12_reduce_bucket(z_, ipg, g));
  }
  if (z_.stage >= 2 && N > 1) {
    r.buffers.push_back(component_term(
        ComponentId::kReduceScatterTemp, checked_mul(bucket, g),
        fmt::format("one bucket {} × {} B: padded partitions concatenated for reduce-scatter", group_digits(bucket), g),
        "DeepSpeed runtime/comm/coalesced_collectives.py reduce_scatter_coalesced", true));
  }
  return r;
}

bool ZeroPolicy::has(Instant instant) const { return instant != Instant::kBackwardHead || z_.stage == 3; }

void ZeroPolicy::buffers_at(Instant i, const StepContext& ctx, const RankStates& rank, Moment& m) const {
  if (i == Instant::kLoad) return;
  auto bytes = [&](ComponentId id) {
    const Term* t = find_term(rank.buffers, id);
    return t ? t->bytes : Bytes{0};
  };
  const bool zero3 = z_.stage == 3;
  const bool layer = is_layer_backward(i);
  m.add(ComponentId::kPersistentParams, bytes(ComponentId::kPersistentParams));
  // Stage 3 allocates its reduce bucket at initialisation; stages 1-2 while backward reduces.
  if (zero3 || i == Instant::kBackwardLoss || layer) m.add(ComponentId::kReduceBucket, bytes(ComponentId::kReduceBucket));
  if (layer || i == Instant::kBackwardHead || (zero3 && i == Instant::kBackwardEnd)) {
    m.add(ComponentId::kReduceScatterTemp, bytes(ComponentId::kReduceScatterTemp));
  }
  if (!zero3) return;
  if (layer || i == Instant::kForwardLastLayer) {
    m.add(ComponentId::kGatheredParams, gathered_layer_bytes(z_, ctx), "one layer's module + prefetch");
  } else if (i != Instant::kStep) {
    m.add(ComponentId::kGatheredParams, bytes(ComponentId::kGatheredParams),
          i == Instant::kBackwardEnd ? "embedding gathered" : "lm_head gathered");
  }
  if (i == Instant::kBackwardHead || i == Instant::kBackwardEnd) {
    m.add(ComponentId::kGatheredGrad, bytes(ComponentId::kGatheredGrad),
          i == Instant::kBackwardEnd ? "embedding's full gradient" : "lm_head's full gradient");
  }
}

}  // namespace vramcalc
