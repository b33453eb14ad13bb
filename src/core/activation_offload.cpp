// Activation offloading as torchtune does it (torchtune 0.6.1 training/_activation_offloading.py,
// OffloadActivations + get_act_offloading_ctx_manager): a saved_tensors_hooks pack hook copies every
// saved tensor of at least min_offload_size = 1024 bytes that is not an nn.Parameter to a new pinned
// CPU tensor (torch.empty_like(pin_memory=True)) on a side stream; one copy per save, no
// de-duplication, so a tensor saved by k ops is copied k times, and mm's saved `weight.t()` is a view,
// not a Parameter, so every Linear's weight is copied too. The output projection runs under
// NoOpManager (its saved input stays); the loss runs outside the context. With non-reentrant
// checkpointing the hook sees only the checkpoint's inputs (_NoopSaveInputs). Measured on the CPU
// with the real torchtune code: tools/measure/offload_measure.py, tests/data/measured/offload_cpu.json.
#include "core/activation_offload.hpp"

#include <algorithm>
#include <functional>
#include <variant>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/model.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {
namespace {

constexpr const char* kSrc = "torchtune training/_activation_offloading.py OffloadActivations.pack_tensor (min_offload_size 1024, "
                             "not Parameter/Buffer, empty_like(pin_memory=True) per save)";

struct Copies {
  Bytes tensors = 1;  ///< separate tensors in the term
  Bytes saves = 1;    ///< saves (host copies) of each
};

// How many times the pack hook sees each saved storage of the HF layer (measured, offload_cpu.json):
// LlamaRMSNorm's fp32 input by pow and mul, its rstd by rsqrt and mul; a norm's output (or the
// residual stream) once per Linear that reads it; SDPA's output by the kernel and o_proj (the
// transpose().contiguous() of the kernel's (b, s, a, d) output is a no-op); autocast's casts are
// separate tensors, one save each.
Copies copies_of(const std::string& name, const LayerSpec& spec, const Dims& x) {
  for (const auto& op : spec.ops) {
    if (const auto* n = std::get_if<NormOp>(&op)) {
      if (name == n->name + ".output") return {1, std::max<Bytes>(n->consumers, 1)};
      if (name == n->name + ".output_casts") return {std::max<Bytes>(n->consumers, 1), 1};
      const bool eager_rms = !x.kernels.fused_norm && n->kind != NormKind::kLayerNorm;
      if (eager_rms && (name == n->name + ".fp32_input" || name == n->name + ".rstd")) return {1, 2};
    }
    if (const auto* li = std::get_if<LinearInputOp>(&op)) {
      if (name == li->name + ".input") return {1, std::max<Bytes>(li->consumers, 1)};
      if (name == li->name + ".input_casts") return {std::max<Bytes>(li->consumers, 1), 1};
    }
  }
  if (name == "attn.out") return {1, 2};
  return {};
}

struct Tally {
  Bytes moved = 0, small = 0, host = 0, copies = 0, pinned = 0;
  void copy(Bytes bytes, Bytes count) {
    host = checked_add(host, checked_mul(bytes, count));
    pinned = checked_add(pinned, checked_mul(pinned_block(bytes), count));
    copies = checked_add(copies, count);
  }
};

// A layer that is not checkpointed: every saved term ≥ 1024 B leaves the GPU and is copied once per
// save; the Linears' transposed weights (or autocast's casts) are copied too; RoPE's muls save cos and
// sin for q and for k (Liger's RoPE saves them once).
Tally plain_layer(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, const LayerSpec& spec, const Activations& act) {
  Tally t;
  for (const auto& p : act.layer_parts) {
    const Copies c = copies_of(p.name, spec, x);
    const Bytes each = p.bytes / c.tensors;
    if (each < kMinOffloadBytes) {
      t.small = checked_add(t.small, p.bytes);
      continue;
    }
    t.moved = checked_add(t.moved, p.bytes);
    t.copy(each, checked_mul(c.tensors, c.saves));
  }
  for (const auto& w : family_spec(m.family).parameters(m)) {
    if (w.scope != ParamScope::kLayer || !w.matmul || w.cols == 1) continue;
    const Bytes bytes = checked_mul(w.numel(), x.e);
    if (bytes >= kMinOffloadBytes) t.copy(bytes, 1);  // one per layer (count is over the layers)
  }
  if (spec.rope_tables > 0) {
    const Bytes table = checked_product({spec.rope_tables_fp32 ? Bytes{4} : x.r, setup.seq_len, x.rot});
    if (table >= kMinOffloadBytes) t.copy(table, x.kernels.fused_rope ? 2 : 4);
  }
  return t;
}

// The five largest saved terms of a plain layer: the forward stash (max_fwd_stash_size = 5 saves)
// keeps the last five saved tensors referenced until their copy's event; an upper bound.
Bytes five_largest(const Activations& act) {
  std::vector<Bytes> sizes;
  for (const auto& p : act.layer_parts) sizes.push_back(p.bytes);
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  Bytes sum = 0;
  for (std::size_t i = 0; i < sizes.size() && i < 5; ++i) sum = checked_add(sum, sizes[i]);
  return sum;
}

Bytes largest(const Activations& act) {
  Bytes most = 0;
  for (const auto& p : act.layer_parts) most = std::max(most, p.bytes);
  return most;
}

// Outside the layers: the final norm's saves are copied (pow and mul, rsqrt and mul) but, the last
// five saves of the forward, stay referenced by the stash until backward reaches them; lm_head's saved
// input is under NoOpManager; input ids are copied (the batch keeps the GPU tensor); the RoPE tables
// are saved only inside the layers.
void outside_copies(const Dims& x, const Activations& act, Tally& t) {
  for (const auto& p : act.outside_parts) {
    if (p.name == "rope_cos_sin" || p.name.ends_with(".output") || p.name.ends_with(".output_casts")) continue;
    if (p.bytes < kMinOffloadBytes) continue;
    const bool twice = p.name.starts_with("final_norm.") && !x.kernels.fused_norm &&
                       (p.name.ends_with(".fp32_input") || p.name.ends_with(".rstd"));
    t.copy(p.bytes, twice ? 2 : 1);
  }
}

// The terms: the host copies for the CPU verdict, the GPU stash / lag component, the lowered stack.
void describe(Bytes plain, Bytes ckpt, Bytes layer_host, Bytes input, Bytes outside_host, Activations& act) {
  ActivationOffload& o = act.offload;
  o.parts.push_back({"offload.plain_layer", layer_host,
                     "one layer that is not checkpointed: Σ saved tensors ≥ 1024 B × saves (norm fp32 input and rstd 2, "
                     "norm output per Linear, SDPA output 2) + its Linears' weights (mm saves weight.t(), a view) + RoPE cos/sin 4 × r·s·rot",
                     kSrc, true});
  if (ckpt > 0) o.parts.push_back({"offload.checkpoint_input", input, "r·T·h: a checkpointed layer's input, saved by _NoopSaveInputs",
                                   "torch utils/checkpoint.py _NoopSaveInputs (non-reentrant); the recompute's saves bypass the hook", false});
  o.parts.push_back({"offload.outside", outside_host, "input ids; the final norm's saves (fp32 input and rstd twice); not lm_head's input (NoOpManager)",
                     "torchtune training/_activation_offloading.py get_act_offloading_ctx_manager (NoOpManager on the output)", false});
  o.host = Term{"offloaded_activations", o.pinned_bytes,
                fmt::format("pinned host copies: Σ PowerOf2Ceil(copy) over {} copies ({} B unrounded) = {} × {} (plain layers) + {} × {} "
                            "(checkpoint inputs) + {} (outside) + masks",
                            group_digits(o.host_copies), group_digits(o.host_bytes), plain, group_digits(layer_host), ckpt,
                            group_digits(input), group_digits(outside_host)),
                std::string(kSrc) + "; c10/core/CachingHostAllocator.h allocate (PowerOf2Ceil)", true};
  o.in_flight = component_term(ComponentId::kActivationOffloadInFlight, std::max(o.forward_in_flight, o.backward_in_flight),
                               fmt::format("forward: the stash of the last 5 saves until their copy's event ({} B: five largest saved tensors, "
                                           "or two checkpoint inputs); backward: the previous node's tensors brought back, freed in the next node's hook ({} B)",
                                           group_digits(o.forward_in_flight), group_digits(o.backward_in_flight)),
                               "torchtune training/_activation_offloading.py (fwd_stash, max_fwd_stash_size 5; bwd_tensor_stash, prev_node_ids)", true);
  act.stack.bytes -= o.moved;
  act.stack.formula += fmt::format(" − {} offloaded to pinned host memory (saved tensors ≥ 1024 B of every layer{}; the final norm's "
                                   "stay in the forward stash, lm_head's input under NoOpManager)",
                                   group_digits(o.moved), o.rope_moved > 0 ? ", the RoPE tables" : "");
  act.stack.source += "; offloading: torchtune training/_activation_offloading.py";
}

}  // namespace

Bytes pinned_block(Bytes bytes) {
  Bytes block = 1;
  while (block < bytes) block = checked_mul(block, 2);
  return block;
}

void validate_activation_offload(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  if (!s.offload_activations) return;
  auto refuse = [](const std::string& why) { throw InputError(field::kOffloadActivations, "true", why); };
  if (s.infer) refuse("has no backward to offload for (inference)");
  if (s.grad_ckpt == GradCkpt::kSelective || s.grad_ckpt == GradCkpt::kOpSac) {
    refuse("is modelled with no or full checkpointing (torchtune's recipes); selective and op-level checkpointing keep tensors inside the checkpoint, not through the offloading hooks");
  }
  if (s.lora.enabled()) refuse("is not modelled with LoRA yet (the frozen base's saved weights and NF4 tensors)");
  if (in.layout.has_model_parallel()) refuse("is not modelled with tensor, context or pipeline parallelism");
}

void apply_activation_offload(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, const LayerSpec& spec,
                              Activations& act) {
  const Bytes L = m.num_layers;
  const bool full = setup.grad_ckpt == GradCkpt::kFull;
  const Bytes ckpt = full ? L / setup.ac_every : 0;
  const Bytes plain = L - ckpt;
  const Bytes masked = full ? act.masked_layers * plain / L : act.masked_layers;
  ActivationOffload& o = act.offload;
  o.enabled = true;
  const Tally layer = plain_layer(m, setup, x, spec, act);
  const Bytes input = checked_product({x.r, x.Tn, x.h});  // a checkpoint's saved input (_NoopSaveInputs)
  const bool input_moves = input >= kMinOffloadBytes;
  Tally outside;
  outside_copies(x, act, outside);
  Bytes rope = 0;
  for (const auto& p : act.outside_parts) {
    if (p.name == "rope_cos_sin" && plain > 0 && p.bytes / 2 >= kMinOffloadBytes) rope = p.bytes;
  }
  const Bytes mask = act.mask_per_masked_layer;
  o.rope_moved = rope;
  o.moved = checked_add(checked_add(checked_mul(plain, layer.moved), checked_mul(ckpt, input_moves ? input : 0)),
                        checked_add(checked_mul(masked, mask), rope));
  const bool top_plain = !full || L % setup.ac_every != 0;
  o.small_per_layer = top_plain ? layer.small : (input_moves ? 0 : input);
  o.host_bytes = checked_add(checked_add(checked_mul(plain, layer.host), checked_mul(ckpt, input_moves ? input : 0)),
                             checked_add(checked_mul(masked, mask), outside.host));
  o.pinned_bytes = checked_add(checked_add(checked_mul(plain, layer.pinned), checked_mul(ckpt, input_moves ? pinned_block(input) : 0)),
                               checked_add(checked_mul(masked, pinned_block(mask)), outside.pinned));
  o.host_copies = checked_add(checked_add(checked_mul(plain, layer.copies), input_moves ? ckpt : 0), checked_add(mask > 0 ? masked : 0, outside.copies));
  o.forward_in_flight = top_plain ? five_largest(act) : (input_moves ? checked_mul(2, input) : 0);
  o.backward_in_flight = top_plain ? largest(act) : (input_moves ? input : 0);
  describe(plain, ckpt, layer.host, input_moves ? input : 0, outside.host, act);
}

void add_offload_host(const ActivationOffload& offload, Bytes ranks_per_node, HostMemory& host) {
  if (!offload.enabled) return;
  host.offloaded_activations = offload.host;
  host.ram_per_rank = checked_add(host.ram_per_rank, offload.pinned_bytes);
  const Bytes node = checked_mul(offload.pinned_bytes, ranks_per_node);
  host.ram_per_node = checked_add(host.ram_per_node, node);
  host.pinned_per_node = checked_add(host.pinned_per_node, node);
}

}  // namespace vramcalc
