// FSDP2 CPUOffloadPolicy(pin_memory=True): the sharded parameters live in pinned host memory
// (_fsdp_param.py FSDPParam._init_sharded_param: padded_sharded_param.cpu().pin_memory()), each
// unshard copies a group's shards to the GPU (all_gather_inputs: .to(device, non_blocking=True)),
// the reduce-scatter output is copied to the host (_fsdp_collectives.py foreach_reduce:
// new_sharded_grad.to("cpu", non_blocking=pin_memory), a pinned destination), and the optimizer,
// built on the host DTensors, keeps its states there and steps on the CPU. The GPU keeps only the
// gathered groups, the unsharded gradients and the reduce-scatter buffers (fsdp2_timeline.cpp).
#include <algorithm>

#include <fmt/format.h>

#include "core/layout/fsdp2.hpp"
#include "core/layout/policies.hpp"

namespace vramcalc {

namespace {

constexpr const char* kOffloadSrc =
    "torch/distributed/fsdp/_fully_shard/_fsdp_param.py FSDPParam (offload_to_cpu, pin_memory); _fsdp_api.py CPUOffloadPolicy";
constexpr const char* kGradSrc =
    "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py foreach_reduce (new_sharded_grad.to(cpu, non_blocking))";

void to_host(Term& t, const char* where) {
  t.bytes = 0;
  t.formula = fmt::format("0 on the GPU: {} (CPUOffloadPolicy)", where);
}

}  // namespace

void apply_fsdp2_cpu_offload(RankStates& r) {
  ModelStates& s = r.states;
  to_host(s.weights, "the sharded parameters live in pinned host memory");
  to_host(s.gradients, "each reduce-scatter output is copied to pinned host memory");
  to_host(s.optimizer_states, "the optimizer's states sit beside the host parameters");
  to_host(s.optimizer_step_temp, "optimizer.step() runs on the CPU");
  r.gradients_persistent = false;
}

HostMemory fsdp2_offload_host(const StepContext& ctx, const ModelStates& one_rank) {
  HostMemory h;
  h.offloaded_params = {"offloaded_params", one_rank.weights.bytes,
                        fmt::format("sharded parameters, pinned: {}", one_rank.weights.formula), kOffloadSrc, true};
  const Bytes opt = checked_add(checked_add(one_rank.gradients.bytes, one_rank.optimizer_states.bytes), one_rank.optimizer_step_temp.bytes);
  h.offloaded_optimizer = {"offloaded_optimizer", opt,
                           fmt::format("sharded gradients (pinned) {} + optimizer states {} + CPU step temporaries {}",
                                       group_digits(one_rank.gradients.bytes), group_digits(one_rank.optimizer_states.bytes),
                                       group_digits(one_rank.optimizer_step_temp.bytes)),
                           kGradSrc, true};
  const std::uint64_t ranks_per_node = std::min(ctx.layout.gpus_per_node, ctx.layout.gpus);
  h.ram_per_rank = checked_add(h.offloaded_params.bytes, h.offloaded_optimizer.bytes);
  h.ram_per_node = checked_mul(h.ram_per_rank, ranks_per_node);
  h.pinned_per_node = checked_mul(checked_add(one_rank.weights.bytes, one_rank.gradients.bytes), ranks_per_node);
  return h;
}

}  // namespace vramcalc
