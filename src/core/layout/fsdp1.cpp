// PyTorch FSDP1 (torch.distributed.fsdp.FullyShardedDataParallel) with transformer auto-wrap: one
// FlatParameter per decoder block and one for the root (embedding, final norm, lm_head), each
// flattened and padded on the right to a multiple of the world size N, every rank keeping one
// contiguous 1/N (torch/distributed/fsdp/_flat_param.py FlatParamHandle.flatten_tensors, _get_shard).
// Unlike FSDP2 the all-gather output is the compute buffer (_full_param_padded, the parameters are
// views into it), so no flat all-gather output is parked; the gradient is one flat tensor per unit
// (split_with_sizes' backward concatenates the per-parameter gradients), cast to the reduce dtype,
// padded and reduce-scattered in the post-backward hook (_runtime_utils.py _post_backward_hook,
// _reduce_grad, _get_reduce_scatter_tensors). FULL_SHARD frees each block after its forward and
// backward; SHARD_GRAD_OP (reshard_after_forward=false) keeps it from forward to its backward; the
// root is never resharded after forward (_post_forward_reshard: not state._is_root).
// limit_all_gathers (default True since torch 2.1, _FreeEventQueue) blocks the CPU until the free of
// the unit two back has run on the device: it bounds the reserved memory, not the allocated bytes.
// Without an auto_wrap_policy (layout.fsdp.auto_wrap none, Lightning's FSDPStrategy default) the root is
// the only unit: the whole model is one FlatParameter, gathered through forward and backward, and every
// per-parameter gradient waits for split's backward until the embedding's gradient exists.
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "core/layout/fsdp2.hpp"
#include "core/layout/policies.hpp"

namespace vramcalc {
namespace {

using enum Instant;

constexpr const char* kFlatSrc = "torch/distributed/fsdp/_flat_param.py FlatParamHandle (flatten_tensors, _get_shard: padded to a multiple of N)";
constexpr const char* kRtSrc = "torch/distributed/fsdp/_runtime_utils.py";

struct Units {
  std::uint64_t n = 1;               // N
  std::uint64_t layers = 1;          // L
  std::uint64_t block = 0, root = 0;  // unpadded numel of one block's and the root's FlatParameter
  std::uint64_t head = 0, at_mlp = 0, at_attn = 0;
  std::uint64_t inner = 0;           // one decoder block inside the root (no auto-wrap), else 0
  std::uint64_t pad(std::uint64_t g) const { return ceil_div(g, n) * n; }
  std::uint64_t shard(std::uint64_t g) const { return ceil_div(g, n); }
  std::uint64_t shards() const { return checked_add(checked_mul(layers, shard(block)), shard(root)); }
};

Units units(const StepContext& ctx) {
  ParallelLayout one = ctx.layout;  // fsdp_groups with one rank: the numels before any padding
  one.gpus = 1;
  one.fsdp.replicate = 1;
  const FsdpGroups g = fsdp_groups({ctx.model, ctx.params, ctx.setup, one});
  const std::uint64_t layers = std::max<std::uint64_t>(ctx.model.num_layers, 1);
  if (!ctx.layout.fsdp.wrap_blocks) {
    // No auto_wrap_policy: FullyShardedDataParallel(model) flattens every parameter into the root's
    // one FlatParameter (torch/distributed/fsdp/_wrap_utils.py _auto_wrap only with a policy).
    return {fsdp_shards(ctx.layout), layers, 0, checked_add(g.root, checked_mul(layers, g.block)), g.head, g.at_mlp, g.at_attn, g.block};
  }
  return {fsdp_shards(ctx.layout), layers, g.block, g.root, g.head, g.at_mlp, g.at_attn, 0};
}

// MixedPrecision: param_dtype set and reduce_dtype not: the gradients reduce in param_dtype
// (_flat_param.py FlatParamHandle._init_param_reduce_dtypes).
FsdpBytes fsdp1_bytes(const FsdpSettings& f, Precision precision) {
  FsdpBytes b = fsdp_bytes(f, precision);
  if (!f.reduce_dtype_bytes) b.reduce = b.gathered;
  return b;
}

Bytes gathered_at(Instant i, const FsdpSettings& f, const Units& u, Bytes q) {
  const Bytes root = checked_mul(u.pad(u.root), q);
  const Bytes block = checked_mul(u.pad(u.block), q);
  const Bytes kept = f.reshard_after_forward ? 0 : checked_mul(u.layers, block);
  switch (i) {
    case kForwardLoss: return checked_add(root, kept);
    case kForwardLastLayer:
    case kBackwardLoss:
    case kBackwardHead: return checked_add(root, f.reshard_after_forward ? block : kept);  // lm_head's backward (fp8), as FSDP2's
    case kBackwardLastMlp:
    case kBackwardLastAttn:
      return checked_add(root, f.reshard_after_forward ? checked_mul(std::min<std::uint64_t>(u.layers, 2), block) : kept);
    case kBackwardFirstMlp:
    case kBackwardFirstAttn: return checked_add(root, block);
    default: return 0;
  }
}

// The root's post-backward hook: the flat gradient (q) is still referenced while its cast to the
// reduce dtype, the padded copy (F.pad) and the sharded output exist; before it, split's backward
// holds the per-parameter gradients beside their concatenation.
Bytes root_reduce_bytes(const Units& u, const FsdpBytes& b) {
  Bytes hook = 0;
  if (b.gathered != b.reduce) hook = checked_add(hook, checked_mul(u.root, b.reduce));
  if (u.pad(u.root) != u.root) hook = checked_add(hook, checked_mul(u.pad(u.root), b.reduce));
  hook = checked_add(hook, checked_mul(u.shard(u.root), b.reduce));
  if (b.reduce != b.stored) hook = checked_add(hook, checked_mul(u.shard(u.root), b.stored));
  return std::max(hook, checked_mul(u.root, b.gathered));
}

std::string gathered_formula(const FsdpSettings& f, const Units& u, Bytes q) {
  if (u.inner != 0) {
    return fmt::format("root {} (padded to N) × {} B: no auto-wrap, so the whole model is one FlatParameter, gathered from the "
                       "root's pre-forward until its post-backward",
                       group_digits(u.pad(u.root)), q);
  }
  return fmt::format("root {} + {} × block {} (padded to N), × {} B: _full_param_padded of the root (never resharded after forward) and {}",
                     group_digits(u.pad(u.root)), f.reshard_after_forward ? "2" : std::to_string(u.layers), group_digits(u.pad(u.block)), q,
                     f.reshard_after_forward ? "of the block in backward and the one prefetched (BACKWARD_PRE)"
                                             : "of every block, kept from forward to its backward (SHARD_GRAD_OP)");
}

}  // namespace

RankStates Fsdp1Policy::rank_states(const StepContext& ctx, const ModelStates& full) const {
  const FsdpBytes b = fsdp1_bytes(f_, ctx.setup.precision);
  const Units u = units(ctx);
  TrainingSetup storage = ctx.setup;
  storage.precision = b.stored == 2 ? Precision::kBf16 : Precision::kFp32;
  const ModelStates one = model_states(ctx.params, storage);
  RankStates r{one, ctx.setup.grad_accum > 1, {}};
  ModelStates& s = r.states;
  const std::uint64_t shard = u.shards();
  s.weights = {"weights", checked_mul(shard, b.stored),
               fmt::format("(L·⌈block/N⌉ + ⌈root/N⌉) × {} B = {} × {}: this rank's _local_shard of every FlatParameter, N = {}",
                           b.stored, group_digits(shard), b.stored, u.n),
               kFlatSrc};
  s.master_weights = {"master_weights", 0, "none: the sharded flat parameters are the optimizer's", kFlatSrc};
  s.gradients = {"gradients", checked_mul(shard, b.stored),
                 fmt::format("{} × {} B: _saved_grad_shard of every unit (reduce-scatter output cast to the parameter dtype)",
                             group_digits(shard), b.stored),
                 std::string(kRtSrc) + " _accumulate_sharded_grad, _cast_grad_to_param_dtype"};
  auto scale = [&](Term& t, const Term& whole) {
    t.bytes = whole.bytes % ctx.params.total == 0 ? checked_mul(whole.bytes / ctx.params.total, shard) : per_rank(whole.bytes, u.n);
    t.formula = fmt::format("({}) over this rank's {} flat-parameter elements", whole.formula, group_digits(shard));
  };
  scale(s.optimizer_states, one.optimizer_states);
  scale(s.optimizer_step_temp, one.optimizer_step_temp);
  s.autocast_cache = full.autocast_cache;
  add_fsdp1_terms(ctx, r.buffers);
  return r;
}

void Fsdp1Policy::add_fsdp1_terms(const StepContext& ctx, std::vector<Term>& out) const {
  const FsdpBytes b = fsdp1_bytes(f_, ctx.setup.precision);
  const Units u = units(ctx);
  const Bytes gathered = std::max(gathered_at(kBackwardLastMlp, f_, u, b.gathered), gathered_at(kForwardLoss, f_, u, b.gathered));
  out.push_back(component_term(ComponentId::kGatheredParams, gathered, gathered_formula(f_, u, b.gathered),
                               std::string(kRtSrc) + " _unshard / _reshard, _prefetch_handle (BACKWARD_PRE), _post_forward_reshard"));
  out.push_back(component_term(ComponentId::kGatheredGrad, checked_mul(u.root, b.gathered),
                               fmt::format("root {} × {} B: the root's flat gradient, complete only after the embedding's backward",
                                           group_digits(u.root), b.gathered),
                               std::string(kRtSrc) + " _post_backward_hook (flat_param.grad)"));
  out.push_back(component_term(ComponentId::kReduceScatterTemp, root_reduce_bytes(u, b),
                               fmt::format("max(per-parameter gradients {} × {} B before their concatenation, cast to {} B + F.pad copy + "
                                           "sharded output): the root's post-backward hook",
                                           group_digits(u.root), b.gathered, b.reduce),
                               std::string(kRtSrc) + " _post_backward_hook, _get_reduce_scatter_tensors"));
}

void Fsdp1Policy::buffers_at(Instant i, const StepContext& ctx, const RankStates&, Moment& m) const {
  if (i == kLoad || i == kStep) return;
  const FsdpBytes b = fsdp1_bytes(f_, ctx.setup.precision);
  const Units u = units(ctx);
  m.add(ComponentId::kGatheredParams, gathered_at(i, f_, u, b.gathered));
  const bool last = i == kBackwardLastMlp || i == kBackwardLastAttn, first = i == kBackwardFirstMlp || i == kBackwardFirstAttn;
  if (last || first) {
    const std::uint64_t made = (i == kBackwardLastMlp || i == kBackwardFirstMlp) ? u.at_mlp : u.at_attn;
    // Without auto-wrap the later blocks' gradients wait in the root's split backward too.
    const std::uint64_t later = first ? checked_mul(u.layers - 1, u.inner) : 0;
    m.add(ComponentId::kGatheredGrad, checked_mul(checked_add(checked_add(u.head, made), later), b.gathered),
          u.inner == 0 ? "lm_head's and the final norm's, and this block's so far"
                       : "the root's per-parameter gradients so far: lm_head, the final norm, the later blocks, this block");
  }
  if (i == kBackwardEnd) {
    m.add(ComponentId::kGatheredGrad, checked_mul(u.root, b.gathered), "the root's flat gradient");
    m.add(ComponentId::kReduceScatterTemp, root_reduce_bytes(u, b), "the root's post-backward hook");
  }
}

std::optional<PhaseEntry> Fsdp1Policy::gradients_at(Instant i, const StepContext& ctx, const RankStates&) const {
  if (ctx.setup.grad_accum > 1 || i == kStep || i == kLoad) return std::nullopt;
  const FsdpBytes b = fsdp1_bytes(f_, ctx.setup.precision);
  const Units u = units(ctx);
  const Bytes block = checked_mul(u.shard(u.block), b.stored);
  if (i == kBackwardFirstMlp || i == kBackwardFirstAttn) return PhaseEntry{ComponentId::kGradients, checked_mul(u.layers - 1, block), "sharded, of the later blocks"};
  if (i == kBackwardEnd) return PhaseEntry{ComponentId::kGradients, checked_mul(u.layers, block), "sharded, of every block"};
  return PhaseEntry{ComponentId::kGradients, 0, ""};
}

TrainingSetup Fsdp1Policy::compute_setup(const TrainingSetup& setup) const {
  const FsdpBytes b = fsdp1_bytes(f_, setup.precision);
  TrainingSetup s = setup;
  // MixedPrecision.param_dtype: the unsharded flat parameter is low precision, so are the layers' outputs.
  if (b.gathered == 2 && s.precision == Precision::kFp32) s.precision = Precision::kBf16;
  if (b.gathered == 4 && (s.precision == Precision::kMixed || s.precision == Precision::kBf16)) s.precision = Precision::kFp32;
  return s;
}

LoadPhase Fsdp1Policy::load(const StepContext& ctx, const LoadSetup& load) const {
  const FsdpBytes b = fsdp1_bytes(f_, ctx.setup.precision);
  const Units u = units(ctx);
  LoadPhase lp;
  lp.cpu_terms.push_back(host_full_model(ctx, load.dtype_bytes.value_or(ctx.model.checkpoint_dtype_bytes)));
  lp.gpu_terms.push_back(component_term(ComponentId::kWeights, checked_mul(u.shards(), b.stored),
                                        fmt::format("{} × {} B: the shards of the units already wrapped", group_digits(u.shards()), b.stored),
                                        kFlatSrc));
  const std::uint64_t largest = std::max(u.root, u.block);
  lp.gpu_terms.push_back(component_term(
      ComponentId::kGatheredParams, checked_mul(checked_mul(largest, 2), b.stored),
      fmt::format("2 × largest unit {} × {} B: its parameters moved to the device and their flat concatenation, before sharding",
                  group_digits(largest), b.stored),
      "torch/distributed/fsdp/_init_utils.py _move_module_to_device; _flat_param.py flatten_tensors (torch.cat)", true));
  lp.gpu_point = "FullyShardedDataParallel(...): the largest unit flattened before it is sharded";
  finish_load(ctx, lp);
  return lp;
}

}  // namespace vramcalc
