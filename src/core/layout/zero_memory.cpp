// ZeRO's host memory (ZeRO-Offload, ZeRO-Infinity) and its load phase, with and without
// deepspeed.zero.Init.
#include <algorithm>

#include <fmt/format.h>

#include "core/layout/policies.hpp"

namespace vramcalc {
namespace {

// DeepSpeedCPUAdam keeps the fp32 master, the fp32 gradient partition and the optimizer
// states in host RAM; with NVMe only its swap buffers stay there.
void host_optimizer(const ZeroSettings& z, const StepContext& ctx, const ModelStates& full, HostMemory& h) {
  const std::uint64_t part = per_rank(frozen_base(ctx) ? trained_params(ctx) : ctx.params.total, ctx.layout.gpus);
  const double ratio = z.stage == 3 ? z.offload_optimizer.ratio : 1.0;
  const Bytes optimizer = per_rank(full.optimizer_states.bytes, ctx.layout.gpus);
  const Bytes master = checked_mul(part, 4);
  const Bytes grads = checked_mul(part, 4);
  const auto bytes = static_cast<Bytes>(static_cast<double>(master + grads + optimizer) * ratio);
  h.offloaded_optimizer = {"offloaded_optimizer", bytes,
                           fmt::format("(fp32 master 4 + fp32 grads 4) × ⌈P/N⌉ + optimizer states / N = {} + {} + {}{}",
                                       group_digits(master), group_digits(grads), group_digits(optimizer),
                                       ratio < 1.0 ? fmt::format(", × ratio {}", ratio) : ""),
                           "DeepSpeed runtime/zero/stage3.py and stage_1_and_2.py with offload_optimizer (DeepSpeedCPUAdam)"};
  if (z.offload_optimizer.device != OffloadDevice::kNvme) return;
  h.nvme = h.offloaded_optimizer;
  h.nvme.name = "nvme";
  const Bytes swap = checked_product({z.offload_optimizer.buffer_count, std::min(part, z.sub_group_size), 4});
  h.offloaded_optimizer = {"offloaded_optimizer", swap,
                           fmt::format("NVMe swap buffers: buffer_count {} × min(⌈P/N⌉, sub_group_size) × 4 B",
                                       z.offload_optimizer.buffer_count),
                           "DeepSpeed runtime/swap_tensor/partitioned_optimizer_swapper.py", true};
}

void host_params(const ZeroSettings& z, const StepContext& ctx, HostMemory& h) {
  const Bytes w = precision_bytes(ctx.setup.precision).weight;
  const Bytes params = frozen_base(ctx) ? zero3_weight_partition(ctx) : checked_mul(per_rank(ctx.params.total, ctx.layout.gpus), w);
  h.offloaded_params = {"offloaded_params", params, fmt::format("⌈P/N⌉ × {} B = {}: parameter partition", w, group_digits(params)),
                        "DeepSpeed runtime/zero/partition_parameters.py (offload_param)"};
  if (z.offload_param.device != OffloadDevice::kNvme) return;
  h.nvme.name = "nvme";
  h.nvme.bytes = checked_add(h.nvme.bytes, params);
  h.nvme.formula += (h.nvme.formula.empty() ? "" : " + ") + fmt::format("parameter partition {}", group_digits(params));
  h.nvme.source = "DeepSpeed ZeRO-Infinity (offload_param nvme)";
  const Bytes staging = checked_product({z.offload_param.buffer_count, z.offload_param.buffer_size, w});
  h.offloaded_params = {"offloaded_params", staging,
                        fmt::format("NVMe staging buffers: buffer_count {} × buffer_size {} × {} B", z.offload_param.buffer_count,
                                    group_digits(z.offload_param.buffer_size), w),
                        "DeepSpeed runtime/swap_tensor/partitioned_param_swapper.py"};
}

// Host RAM while from_pretrained runs under zero.Init: one checkpoint shard at a time.
Term host_checkpoint_shard(const StepContext& ctx, const LoadSetup& load, Bytes load_bytes) {
  const Bytes whole = checked_mul(ctx.params.total, load_bytes);
  return {"checkpoint_shard", std::min(whole, load.checkpoint_shard),
          fmt::format("one checkpoint shard at a time: min(P × {} B, {}) (params are created partitioned)", load_bytes,
                      group_digits(load.checkpoint_shard)),
          "transformers integrations/deepspeed.py (zero.Init) + modeling_utils _load_state_dict_into_zero3_model", true};
}

// GPU under zero.Init: the partition, and either one module gathered to copy its weights in
// or the fp32 master partition, whichever is larger.
void load_partitioned(const ZeroSettings& z, const StepContext& ctx, Bytes master_rank, LoadPhase& lp) {
  const ParameterCounts& pc = ctx.params;
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  const bool params_offloaded = z.offload_param.device != OffloadDevice::kNone;
  const Bytes full_partition =
      frozen_base(ctx) ? zero3_weight_partition(ctx) : checked_mul(per_rank(pc.total, ctx.layout.gpus), pb.weight);
  const Bytes partition = params_offloaded ? 0 : full_partition;
  lp.gpu_terms.push_back(component_term(ComponentId::kWeights, partition, "⌈P/N⌉ × weight bytes: created partitioned under zero.Init",
                                        "DeepSpeed runtime/zero/partition_parameters.py Init"));
  const Bytes largest = frozen_base(ctx) ? largest_stored_tensor(ctx, false) : checked_mul(pc.largest_module, pb.weight);
  lp.gpu_terms.push_back(
      largest >= master_rank
          ? component_term(ComponentId::kGatheredParams, largest,
                           fmt::format("largest module {} × {} B gathered to copy its weights in", group_digits(pc.largest_module), pb.weight),
                           "transformers _load_state_dict_into_zero3_model (GatheredParameters, modifier_rank 0)")
          : component_term(ComponentId::kMasterWeights, master_rank, "⌈P/N⌉ × 4 B fp32 master partition made by the ZeRO optimizer",
                           "DeepSpeed runtime/zero/stage3.py _create_fp32_partitions"));
  lp.gpu_point = "zero.Init: partitioned weights, one module gathered at a time";
}

}  // namespace

HostMemory ZeroPolicy::host(const StepContext& ctx, const ModelStates& full) const {
  HostMemory h;
  if (z_.offload_optimizer.device != OffloadDevice::kNone) host_optimizer(z_, ctx, full, h);
  if (z_.offload_param.device != OffloadDevice::kNone) host_params(z_, ctx, h);
  const std::uint64_t ranks_per_node = std::min(ctx.layout.gpus_per_node, ctx.layout.gpus);
  h.ram_per_rank = checked_add(h.offloaded_optimizer.bytes, h.offloaded_params.bytes);
  h.ram_per_node = checked_mul(h.ram_per_rank, ranks_per_node);
  Bytes pinned = 0;
  if (z_.offload_optimizer.pin_memory) pinned += h.offloaded_optimizer.bytes;
  if (z_.offload_param.pin_memory) pinned += h.offloaded_params.bytes;
  h.pinned_per_node = checked_mul(pinned, ranks_per_node);
  return h;
}

LoadPhase ZeroPolicy::load(const StepContext& ctx, const LoadSetup& load) const {
  const ParameterCounts& pc = ctx.params;
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  const Bytes load_bytes = load.dtype_bytes.value_or(ctx.model.checkpoint_dtype_bytes);
  const std::uint64_t N = ctx.layout.gpus;
  const bool zero_init = z_.stage == 3 && z_.zero3_init;
  LoadPhase lp;
  lp.cpu_terms.push_back(zero_init ? host_checkpoint_shard(ctx, load, load_bytes) : host_full_model(ctx, load_bytes));
  if (z_.offload_param.device != OffloadDevice::kNone) {
    const Bytes partition = frozen_base(ctx) ? zero3_weight_partition(ctx) : checked_mul(per_rank(pc.total, N), pb.weight);
    lp.cpu_terms.push_back({"param_partition", partition, "⌈P/N⌉ × weight bytes in host RAM",
                            "DeepSpeed offload_param", false});
  }
  const bool optimizer_offloaded = z_.offload_optimizer.device != OffloadDevice::kNone;
  const std::uint64_t trained = frozen_base(ctx) ? trained_params(ctx) : pc.total;
  const Bytes master_rank = (optimizer_offloaded || pb.master == 0) ? 0 : checked_mul(per_rank(trained, N), pb.master);
  if (zero_init) {
    load_partitioned(z_, ctx, master_rank, lp);
  } else if (z_.stage == 3) {
    const Bytes model_bytes = stored_model_bytes(ctx);
    lp.gpu_terms.push_back(component_term(ComponentId::kWeights, model_bytes,
                                          fmt::format("P × {} B: engine casts and moves the whole model to the GPU (module.to(device))", pb.weight),
                                          "DeepSpeed runtime/engine.py _configure_distributed_model"));
    lp.gpu_terms.push_back(component_term(ComponentId::kWeights,
                                          frozen_base(ctx) ? zero3_weight_partition(ctx) : checked_mul(per_rank(pc.total, N), pb.weight),
                                          "⌈P/N⌉ × weight bytes: partitions made while the full copy still exists",
                                          "DeepSpeed runtime/zero/partition_parameters.py (_convert_to_zero_parameters)"));
    lp.gpu_point = "deepspeed.initialize without zero.Init: the whole model on every GPU before partitioning";
  } else {
    load_whole_model(ctx, master_rank, "DeepSpeed runtime/zero/stage_1_and_2.py (single_partition_of_fp32_groups)", lp);
    lp.gpu_point = "deepspeed.initialize: model on the GPU, fp32 master partitions built";
  }
  finish_load(ctx, lp, "full model plus its partition while ZeRO-3 converts it");
  return lp;
}

}  // namespace vramcalc
