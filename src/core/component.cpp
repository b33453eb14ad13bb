// The component table: each memory component's id, name, label, kind and what shards it.
#include <vramcalc/component.hpp>

#include <array>

namespace vramcalc {
namespace {

using enum ComponentId;
using TK = TermKind;
using SU = ShardUnit;

constexpr std::array kTable = {
    ComponentInfo{kWeights, "weights", "model parameters", TK::kAllocated, SU::kParameters, true},
    ComponentInfo{kMasterWeights, "master_weights", "fp32 master copy of the parameters", TK::kAllocated, SU::kOptimizer, false},
    ComponentInfo{kGradients, "gradients", "parameter gradients", TK::kAllocated, SU::kGradients, true},
    ComponentInfo{kOptimizerStates, "optimizer_states", "optimizer states (moments)", TK::kAllocated, SU::kOptimizer, true},
    ComponentInfo{kOptimizerStepTemp, "optimizer_step_temp", "temporaries of optimizer.step()", TK::kAllocated, SU::kOptimizer, false},
    ComponentInfo{kGradFp32Copy, "grad_fp32_copy", "fp32 copy of the gradients for the step", TK::kAllocated, SU::kOptimizer, false},
    ComponentInfo{kAutocastCache, "autocast_cache", "autocast's bf16 copies of the weights", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kGatheredParams, "gathered_params", "parameters gathered in full (ZeRO-3)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kGatheredGrad, "gathered_grad", "a gathered module's full gradient (ZeRO-3)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kPersistentParams, "persistent_params", "small parameters kept whole (ZeRO-3)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kReduceBucket, "reduce_bucket", "ZeRO gradient reduce bucket", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kDdpGradBuckets, "ddp_grad_buckets", "DDP gradient buckets (a second copy of the gradients)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kReduceScatterTemp, "reduce_scatter_temp", "reduce-scatter staging", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kActivations, "activations", "tensors saved for backward", TK::kAllocated, SU::kNone, true},
    ComponentInfo{kAttentionMask, "attention_mask", "materialised attention masks (forward)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kLayerForward, "layer_forward", "one layer's forward temporaries", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kLayerBackward, "layer_backward", "one layer's backward working set", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kLogitsLoss, "logits_loss", "logits and cross-entropy loss", TK::kAllocated, SU::kNone, true},
    ComponentInfo{kCublasWorkspace, "cublas_workspace", "cuBLAS workspaces", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kAllocatorReserve, "allocator_reserve", "caching allocator reserve", TK::kReserve, SU::kNone, false},
    ComponentInfo{kCudaContext, "cuda_context", "CUDA context and libraries", TK::kNonPytorch, SU::kNone, false},
    ComponentInfo{kNcclBuffers, "nccl_buffers", "NCCL communication buffers", TK::kNonPytorch, SU::kNone, false},
    ComponentInfo{kPagedOptimizerStates, "paged_optimizer_states", "paged optimizer states (CUDA unified memory)", TK::kNonPytorch, SU::kOptimizer, false},
    ComponentInfo{kKvCache, "kv_cache", "KV cache (inference)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kKvCacheGrowth, "kv_cache_growth", "one layer's K, V re-allocated by torch.cat (inference)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kSpGatherBuffer, "sp_gather_buffer", "sequence-parallel all-gather buffer (TP)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kCpKvGather, "cp_kv_gather", "context-parallel all-gathered K/V", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kPpRecvInputs, "pp_recv_inputs", "pipeline stage inputs kept for backward", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kAllGatherBuffer, "all_gather_buffer", "FSDP flat all-gather output", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kStreamPools, "stream_pools", "communication streams' cached blocks", TK::kReserve, SU::kNone, false},
    ComponentInfo{kActivationOffloadInFlight, "offload_in_flight", "offloaded activations still on the GPU (copy stash, backward lag)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kEpAllToAll, "ep_all_to_all", "expert-parallel all-to-all buffers (one MoE layer)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kHsdpAllReduce, "hsdp_all_reduce", "HSDP all-reduce buffers (reduce dtype)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kFp8Casts, "fp8_casts", "float8 casts of the Linear in flight (torchao)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kLossWindowHole, "loss_window_hole", "freed logits block the loss backward cannot reuse", TK::kReserve, SU::kNone, false},
    ComponentInfo{kTeFp8WeightCache, "te_fp8_weight_cache", "fp8 weights and transposes cached by Transformer Engine", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kFp8ScaleState, "fp8_scale_state", "fp8 amax history and scales (TE delayed scaling)", TK::kAllocated, SU::kNone, false},
    ComponentInfo{kTeFp8Casts, "te_fp8_casts", "fp8 copies of the Linear in flight (Transformer Engine)", TK::kAllocated, SU::kNone, false},
};

constexpr bool ordered() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].id) != i) return false;
  }
  return true;
}
static_assert(ordered(), "kTable rows must follow ComponentId order");

}  // namespace

const char* to_string(TermKind kind) {
  switch (kind) {
    case TermKind::kAllocated: return "allocated";
    case TermKind::kReserve: return "reserve";
    case TermKind::kNonPytorch: return "non_pytorch";
  }
  return "?";
}

std::span<const ComponentInfo> component_table() { return kTable; }
const ComponentInfo& info(ComponentId id) { return kTable[static_cast<std::size_t>(id)]; }
std::string_view name_of(ComponentId id) { return info(id).name; }

std::optional<ComponentId> find_component(std::string_view name) {
  for (const auto& row : kTable) {
    if (row.name == name) return row.id;
  }
  return std::nullopt;
}

}  // namespace vramcalc
