// Per-rank model states under ZeRO (Rajbhandari et al. 2020, arXiv:1910.02054 §5) and what
// DeepSpeed actually allocates around them (deepspeed/runtime/zero/stage_1_and_2.py, stage3.py), and the load phase.
#include <vramcalc/sharding.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {

const char* to_string(Interconnect value) {
  switch (value) {
    case Interconnect::kAuto: return "auto";
    case Interconnect::kNvlink: return "nvlink";
    case Interconnect::kPcie: return "pcie";
    case Interconnect::kIb: return "ib";
    case Interconnect::kEfa: return "efa";
  }
  return "?";
}

Interconnect parse_interconnect(const std::string& text) {
  for (Interconnect i : {Interconnect::kAuto, Interconnect::kNvlink, Interconnect::kPcie, Interconnect::kIb, Interconnect::kEfa}) {
    if (text == to_string(i)) return i;
  }
  throw InputError(field::kInterconnect, text, "expected one of auto, nvlink, pcie, ib, efa");
}

void validate_layout(const ParallelLayout& layout) {
  if (layout.gpus == 0) throw InputError(field::kGpus, "0", "must be a positive integer");
  if (layout.gpus_per_node == 0) throw InputError(field::kGpusPerNode, "0", "must be a positive integer");
  const ZeroSettings& z = layout.zero;
  if (z.stage < 0 || z.stage > 3) throw InputError(field::kZeroStage, std::to_string(z.stage), "expected 0, 1, 2 or 3");
  if (z.offload_param.device != OffloadDevice::kNone && z.stage != 3) {
    throw InputError(field::kOffloadParam, to_string(z.offload_param.device), "parameter offload needs ZeRO stage 3");
  }
  if (z.offload_optimizer.device != OffloadDevice::kNone && z.stage == 0) {
    throw InputError(field::kOffloadOptimizer, to_string(z.offload_optimizer.device), "optimizer offload needs ZeRO stage 1, 2 or 3");
  }
  if (z.offload_optimizer.ratio < 1.0 && z.stage != 3) {
    throw InputError(field::kOffloadOptimizerRatio, fmt::format("{}", z.offload_optimizer.ratio), "a partial offload ratio needs ZeRO stage 3");
  }
}

namespace {

constexpr const char* kZeroPaper = "ZeRO (arXiv:1910.02054) §5";

// ⌈x / N⌉: DeepSpeed pads partitions so every rank holds the same number of elements.
Bytes per_rank(Bytes x, std::uint64_t n) { return ceil_div(x, n); }

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

}  // namespace

RankStates shard_states(const ModelConfig& /*model*/, const ParameterCounts& pc, const TrainingSetup& setup,
                        const ModelStates& full, const ParallelLayout& layout) {
  const ZeroSettings& z = layout.zero;
  const std::uint64_t N = layout.gpus;
  const PrecisionBytes pb = precision_bytes(setup.precision);
  RankStates r;
  r.states = full;
  ModelStates& s = r.states;
  if (z.stage >= 1) {
    s.master_weights = shard(full.master_weights, N, "ZeRO-1 shards the fp32 master copy");
    s.optimizer_states = shard(full.optimizer_states, N, "ZeRO-1 shards optimizer states");
    s.optimizer_step_temp = shard(full.optimizer_step_temp, N, "the step runs on this rank's partition");
    s.grad_fp32_copy = shard(full.grad_fp32_copy, N, "fp32 copy of this rank's gradient partition");
  }
  if (z.stage >= 2) {
    const Bytes g = (z.stage == 3 && z.grad_accum_dtype_fp32) ? 4 : pb.grad;
    s.gradients.bytes = checked_mul(per_rank(pc.total, N), g);
    s.gradients.formula = fmt::format("⌈P/N⌉ × {} B = ⌈{} / {}⌉ × {}: ZeRO-{} gradient partition, kept between steps", g,
                                      group_digits(pc.total), N, g, z.stage);
    s.gradients.source = z.stage == 3 ? "DeepSpeed runtime/zero/stage3.py (grad_partitions_flat_buffer)"
                                      : "DeepSpeed runtime/zero/stage_1_and_2.py (grads_in_partition)";
    r.gradients_persistent = true;
  }
  if (z.stage == 3) {
    s.weights.bytes = checked_mul(per_rank(pc.total, N), pb.weight);
    s.weights.formula = fmt::format("⌈P/N⌉ × {} B = ⌈{} / {}⌉ × {}: ZeRO-3 parameter partition", pb.weight,
                                    group_digits(pc.total), N, pb.weight);
    s.weights.source = "DeepSpeed runtime/zero/partition_parameters.py; " + std::string(kZeroPaper);
    if (setup.optimizer == Optimizer::kAdamW && s.optimizer_step_temp.bytes > 0) {
      // ZeRO-3 steps the wrapped optimizer one sub-group at a time: the foreach temporary
      // covers one sub-group's fp32 partition.
      const Bytes group = std::min(per_rank(pc.total, N), z.sub_group_size);
      s.optimizer_step_temp.bytes = checked_mul(group, pb.state);
      s.optimizer_step_temp.formula = fmt::format("min(⌈P/N⌉, sub_group_size) × {} B = {} × {}: foreach temporary of one sub-group",
                                                  pb.state, group_digits(group), pb.state);
      s.optimizer_step_temp.source = "DeepSpeed runtime/zero/stage3.py step (per sub-group _optimizer_step); torch/optim/adamw.py foreach";
    }
    if (s.grad_fp32_copy.bytes > 0) {
      const Bytes group = std::min(per_rank(pc.total, N), z.sub_group_size);
      s.grad_fp32_copy.bytes = checked_mul(group, 4);
      s.grad_fp32_copy.formula = fmt::format("min(⌈P/N⌉, sub_group_size) × 4 B = {} × 4: fp32 gradients of one sub-group at the step",
                                             group_digits(group));
      s.grad_fp32_copy.source = "DeepSpeed runtime/zero/stage3.py _prepare_fp32_grad_for_sub_group";
    }
  }
  // Offload: what leaves the GPU.
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

  // Unsharded buffers.
  const Bytes g = pb.grad;
  const Bytes bucket = std::min<Bytes>(z.reduce_bucket_size, pc.total);
  if (z.stage == 3) {
    const std::uint64_t prefetch = std::min(z.stage3_prefetch_bucket_size, z.stage3_max_live_parameters);
    r.gathered_params = {"gathered_params", checked_mul(checked_add(pc.largest_module, prefetch), pb.weight),
                         fmt::format("(largest module {} + prefetch ≤ {}) × {} B: gathered in full on every rank",
                                     group_digits(pc.largest_module), group_digits(prefetch), pb.weight),
                         "DeepSpeed runtime/zero/partitioned_param_coordinator.py fetch_sub_module (stage3_prefetch_bucket_size)",
                         true};
    r.gathered_grad = {"gathered_grad", checked_mul(pc.largest_module, g),
                       fmt::format("largest module {} × {} B: its full gradient before reduce-scatter", group_digits(pc.largest_module), g),
                       "DeepSpeed runtime/zero/stage3.py reduce_partition_and_remove_grads (full param.grad first)", true};
    std::uint64_t persistent = 0;
    for (const auto& t : pc.tensors) {
      if (t.numel() <= z.stage3_param_persistence_threshold) persistent += t.total();
    }
    persistent = std::min(persistent, z.stage3_model_persistence_threshold);
    r.persistent_params = {"persistent_params", checked_mul(persistent, pb.weight),
                           fmt::format("{} params with numel ≤ {} (stage3_param_persistence_threshold) × {} B, full copies",
                                       group_digits(persistent), group_digits(z.stage3_param_persistence_threshold), pb.weight),
                           "DeepSpeed runtime/zero/parameter_offload.py mark_persistent_parameters"};
    r.reduce_bucket = {"reduce_bucket", z.contiguous_gradients ? checked_mul(bucket, g) : 0,
                       fmt::format("reduce_bucket_size {} × {} B (contiguous_gradients)", group_digits(bucket), g),
                       "DeepSpeed runtime/zero/stage3.py __ipg_bucket_flat_buffer"};
    r.reduce_bucket_always = true;
  } else if (z.stage == 0 && N > 1) {
    // Plain data parallelism (torch DDP): the reducer keeps flat buckets holding a copy of every
    // gradient (gradient_as_bucket_view=False by default), allocated at construction.
    r.reduce_bucket = {"reduce_bucket", checked_mul(pc.total, g),
                       fmt::format("DDP gradient buckets: P × {} B = {} × {} (a second copy of the gradients)", g,
                                   group_digits(pc.total), g),
                       "torch/csrc/distributed/c10d/reducer.cpp (bucket views, gradient_as_bucket_view=False); pytorch PR #41954"};
    r.reduce_bucket_always = true;
  } else if (z.stage >= 1 && N > 1) {
    const Bytes copies = (z.stage == 2 && z.overlap_comm) ? 2 : 1;
    r.reduce_bucket = {"reduce_bucket", checked_product({copies, bucket, g}),
                       fmt::format("{} × reduce_bucket_size {} × {} B{}", copies, group_digits(bucket), g,
                                   copies == 2 ? " (overlap_comm double-buffers)" : ""),
                       "DeepSpeed runtime/zero/stage_1_and_2.py backward (ipg_buffer)"};
  }
  if (z.stage >= 2 && N > 1) {
    r.reduce_scatter_temp = {"reduce_scatter_temp", checked_mul(bucket, g),
                             fmt::format("one bucket {} × {} B: padded partitions concatenated for reduce-scatter", group_digits(bucket), g),
                             "DeepSpeed runtime/comm/coalesced_collectives.py reduce_scatter_coalesced", true};
  }
  return r;
}

HostMemory host_memory(const ParameterCounts& pc, const TrainingSetup& setup, const ModelStates& full,
                       const ParallelLayout& layout) {
  const ZeroSettings& z = layout.zero;
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const std::uint64_t part = per_rank(pc.total, layout.gpus);
  HostMemory h;
  if (z.offload_optimizer.device != OffloadDevice::kNone) {
    const double ratio = z.stage == 3 ? z.offload_optimizer.ratio : 1.0;
    const Bytes optimizer = per_rank(full.optimizer_states.bytes, layout.gpus);
    const Bytes master = checked_mul(part, 4);                 // DeepSpeedCPUAdam keeps fp32 master
    const Bytes grads = checked_mul(part, 4);                  // fp32 gradient partition on the host
    const auto bytes = static_cast<Bytes>(static_cast<double>(master + grads + optimizer) * ratio);
    h.offloaded_optimizer = {"offloaded_optimizer", bytes,
                             fmt::format("(fp32 master 4 + fp32 grads 4) × ⌈P/N⌉ + optimizer states / N = {} + {} + {}{}", group_digits(master),
                                         group_digits(grads), group_digits(optimizer),
                                         ratio < 1.0 ? fmt::format(", × ratio {}", ratio) : ""),
                             "DeepSpeed runtime/zero/stage3.py and stage_1_and_2.py with offload_optimizer (DeepSpeedCPUAdam)"};
    if (z.offload_optimizer.device == OffloadDevice::kNvme) {
      h.nvme = h.offloaded_optimizer;
      h.nvme.name = "nvme";
      const Bytes swap = checked_product({z.offload_optimizer.buffer_count, std::min(part, z.sub_group_size), 4});
      h.offloaded_optimizer = {"offloaded_optimizer", swap,
                               fmt::format("NVMe swap buffers: buffer_count {} × min(⌈P/N⌉, sub_group_size) × 4 B",
                                           z.offload_optimizer.buffer_count),
                               "DeepSpeed runtime/swap_tensor/partitioned_optimizer_swapper.py", true};
    }
  }
  if (z.offload_param.device != OffloadDevice::kNone) {
    const Bytes params = checked_mul(part, pb.weight);
    h.offloaded_params = {"offloaded_params", params,
                          fmt::format("⌈P/N⌉ × {} B = {}: parameter partition", pb.weight, group_digits(params)),
                          "DeepSpeed runtime/zero/partition_parameters.py (offload_param)"};
    if (z.offload_param.device == OffloadDevice::kNvme) {
      h.nvme.name = "nvme";
      h.nvme.bytes = checked_add(h.nvme.bytes, params);
      h.nvme.formula += (h.nvme.formula.empty() ? "" : " + ") + fmt::format("parameter partition {}", group_digits(params));
      h.nvme.source = "DeepSpeed ZeRO-Infinity (offload_param nvme)";
      const Bytes staging = checked_product({z.offload_param.buffer_count, z.offload_param.buffer_size, pb.weight});
      h.offloaded_params = {"offloaded_params", staging,
                            fmt::format("NVMe staging buffers: buffer_count {} × buffer_size {} × {} B", z.offload_param.buffer_count,
                                        group_digits(z.offload_param.buffer_size), pb.weight),
                            "DeepSpeed runtime/swap_tensor/partitioned_param_swapper.py"};
    }
  }
  h.ram_per_rank = checked_add(h.offloaded_optimizer.bytes, h.offloaded_params.bytes);
  h.ram_per_node = checked_mul(h.ram_per_rank, std::min(layout.gpus_per_node, layout.gpus));
  Bytes pinned = 0;
  if (z.offload_optimizer.pin_memory) pinned += h.offloaded_optimizer.bytes;
  if (z.offload_param.pin_memory) pinned += h.offloaded_params.bytes;
  h.pinned_per_node = checked_mul(pinned, std::min(layout.gpus_per_node, layout.gpus));
  return h;
}

LoadPhase load_phase(const ModelConfig& model, const ParameterCounts& pc, const TrainingSetup& setup,
                     const ParallelLayout& layout, const LoadSetup& load) {
  const ZeroSettings& z = layout.zero;
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const Bytes load_bytes = load.dtype_bytes.value_or(model.checkpoint_dtype_bytes);
  const std::uint64_t N = layout.gpus;
  const bool zero_init = z.stage == 3 && z.zero3_init;
  const bool params_offloaded = z.offload_param.device != OffloadDevice::kNone;
  const bool optimizer_offloaded = z.offload_optimizer.device != OffloadDevice::kNone;
  LoadPhase lp;
  // Host RAM while from_pretrained runs.
  const Bytes whole = checked_mul(pc.total, load_bytes);
  if (zero_init) {
    const Bytes shard_bytes = std::min(whole, load.checkpoint_shard);
    lp.cpu_terms.push_back({"checkpoint_shard", shard_bytes,
                            fmt::format("one checkpoint shard at a time: min(P × {} B, {}) (params are created partitioned)", load_bytes,
                                        group_digits(load.checkpoint_shard)),
                            "transformers integrations/deepspeed.py (zero.Init) + modeling_utils _load_state_dict_into_zero3_model",
                            true});
  } else {
    lp.cpu_terms.push_back({"full_model", whole,
                            fmt::format("P × {} B = {} × {}: every rank materialises the whole model (load dtype)", load_bytes,
                                        group_digits(pc.total), load_bytes),
                            "transformers modeling_utils from_pretrained (meta-device loader, one copy; low_cpu_mem_usage always on since PR #36963)", false});
  }
  if (params_offloaded) {
    lp.cpu_terms.push_back({"param_partition", checked_mul(per_rank(pc.total, N), pb.weight), "⌈P/N⌉ × weight bytes in host RAM",
                            "DeepSpeed offload_param", false});
  }
  for (const auto& t : lp.cpu_terms) lp.cpu_per_rank = checked_add(lp.cpu_per_rank, t.bytes);
  lp.cpu_per_node = checked_mul(lp.cpu_per_rank, std::min(layout.gpus_per_node, N));

  // GPU while deepspeed.initialize places the model and builds the optimizer partitions.
  const Bytes master_rank = (optimizer_offloaded || pb.master == 0) ? 0 : checked_mul(per_rank(pc.total, z.stage >= 1 ? N : 1), pb.master);
  const Bytes largest = checked_mul(pc.largest_module, pb.weight);
  if (z.stage == 3 && zero_init) {
    const Bytes partition = params_offloaded ? 0 : checked_mul(per_rank(pc.total, N), pb.weight);
    lp.gpu_terms.push_back({"weights", partition, "⌈P/N⌉ × weight bytes: created partitioned under zero.Init",
                            "DeepSpeed runtime/zero/partition_parameters.py Init", false});
    const bool gathering_larger = largest >= master_rank;
    lp.gpu_terms.push_back(gathering_larger
                               ? Term{"gathered_params", largest,
                                      fmt::format("largest module {} × {} B gathered to copy its weights in", group_digits(pc.largest_module), pb.weight),
                                      "transformers _load_state_dict_into_zero3_model (GatheredParameters, modifier_rank 0)", false}
                               : Term{"master_weights", master_rank, "⌈P/N⌉ × 4 B fp32 master partition made by the ZeRO optimizer",
                                      "DeepSpeed runtime/zero/stage3.py _create_fp32_partitions", false});
    lp.gpu_point = "zero.Init: partitioned weights, one module gathered at a time";
  } else {
    const Bytes model_bytes = checked_mul(pc.total, pb.weight);
    lp.gpu_terms.push_back({"weights", model_bytes,
                            fmt::format("P × {} B: engine casts and moves the whole model to the GPU (module.to(device))", pb.weight),
                            "DeepSpeed runtime/engine.py _configure_distributed_model", false});
    if (z.stage == 3) {
      lp.gpu_terms.push_back({"weights_partition", checked_mul(per_rank(pc.total, N), pb.weight),
                              "⌈P/N⌉ × weight bytes: partitions made while the full copy still exists",
                              "DeepSpeed runtime/zero/partition_parameters.py (_convert_to_zero_parameters)", false});
      lp.gpu_point = "deepspeed.initialize without zero.Init: the whole model on every GPU before partitioning";
    } else {
      lp.gpu_terms.push_back({"master_weights", master_rank, "fp32 master partition built by the optimizer",
                              "DeepSpeed runtime/zero/stage_1_and_2.py (single_partition_of_fp32_groups)", false});
      lp.gpu_point = z.stage == 0 ? "model moved to the GPU, optimizer's fp32 master copy built"
                                  : "deepspeed.initialize: model on the GPU, fp32 master partitions built";
    }
  }
  for (const auto& t : lp.gpu_terms) lp.gpu = checked_add(lp.gpu, t.bytes);
  return lp;
}

}  // namespace vramcalc
