// The timeline of one training step. Steady state: the optimizer states exist (created lazily
// at the first step); with grad_accum = 1 and no gradient partitions kept by the layout,
// gradients are set to None after each step (HF Trainer, torch ≥ 2.0) and live only from
// backward to the step. Each function below says what one part of the model has alive at an
// instant; build_timeline() asks each of them at every instant.
#include "core/step.hpp"
#include "core/dense_layers.hpp"
#include "core/encoder_decoder.hpp"
#include "core/ops_fp8.hpp"

#include <algorithm>
#include <array>

namespace vramcalc {
namespace {

using enum Instant;

bool is_mlp(Instant i) { return i == kBackwardLastMlp || i == kBackwardFirstMlp; }
bool is_last_layer(Instant i) { return i == kBackwardLastMlp || i == kBackwardLastAttn; }
bool is_layer(Instant i) { return is_mlp(i) || i == kBackwardLastAttn || i == kBackwardFirstAttn; }
bool is_forward(Instant i) { return i == kForwardLoss || i == kForwardLastLayer; }

// Parameters of one decoder layer, grouped by when its backward has produced their gradients.
struct LayerShape {
  std::uint64_t head = 0;        ///< lm_head (or the tied embedding) in the output matmul
  std::uint64_t layer_matmul = 0;///< matmul parameters of one layer
  std::uint64_t at_mlp = 0;      ///< gradients made by the MLP peak (the output projection's)
  std::uint64_t at_attn = 0;     ///< gradients made by the attention peak (MLP, o_proj, later norms)
  std::uint64_t at_mlp_matmul = 0;
  std::uint64_t at_attn_matmul = 0;
};

// The classification head's Linears (pooler / dense and classifier), in place of a V × h lm_head.
std::uint64_t classifier_matmul(const ParameterCounts& pc) {
  std::uint64_t n = 0;
  for (const auto& t : pc.tensors) {
    if (t.scope == ParamScope::kLmHead && t.matmul) n += t.total();
  }
  return n;
}

LayerShape layer_shape(const StepContext& ctx, bool head) {
  const ParameterCounts& pc = ctx.params;
  LayerShape s;
  s.head = head ? checked_mul(ctx.model.vocab_size, ctx.model.hidden_size) : 0;
  if (ctx.model.head == ModelHead::kSeqCls) s.head = head ? classifier_matmul(pc) : 0;
  s.layer_matmul = (pc.matmul_weights - s.head) / ctx.model.num_layers;
  for (const auto& t : pc.tensors) {
    if (in_dense_layers_only(t, ctx.model)) continue;  // the layer in backward is an MoE layer (DeepSeek)
    if (t.backward_region == BackwardRegion::kOutput) {
      s.at_mlp += t.numel();
      if (t.matmul) s.at_mlp_matmul += t.numel();
    }
    if (t.backward_region == BackwardRegion::kOutput || t.backward_region == BackwardRegion::kAfterAttention) {
      s.at_attn += t.numel();
      if (t.matmul) s.at_attn_matmul += t.numel();
    }
  }
  return s;
}

// Optimizer-in-backward (torchtune OptimizerInBackward, modules/optim.py): each parameter's
// post-accumulate-grad hook runs its own optimizer's step() and zero_grad(), so a gradient lives
// only while its parameter is stepped, with that one tensor's step temporaries. In flight: lm_head's
// in its backward, the largest of a layer's tensors inside a layer, the input embedding's at the end.
void in_backward_states_at(Instant i, const StepContext& ctx, const StepParts& p, const LayerShape& shape, Moment& m) {
  const ModelStates& s = p.rank.states;
  const ParameterCounts& pc = ctx.params;
  std::uint64_t in_flight = 0;
  if (i == kBackwardHead) in_flight = shape.head;
  if (i == kBackwardEnd && !ctx.model.output_tied()) in_flight = pc.embedding;
  if (is_layer(i)) {
    for (const auto& t : pc.tensors) {
      if (t.scope == ParamScope::kLayer && t.trainable) in_flight = std::max(in_flight, t.numel());
    }
  }
  if (in_flight == 0) return;
  const Bytes grad = checked_mul(in_flight, precision_bytes(ctx.setup.precision).grad);
  m.add(ComponentId::kGradients, grad, "one parameter's gradient, stepped and freed by its hook");
  const std::uint64_t n_max = std::max<std::uint64_t>(pc.largest_tensor, 1);
  m.add(ComponentId::kOptimizerStepTemp, checked_mul(s.optimizer_step_temp.bytes, in_flight) / n_max,
        "that parameter's step temporaries");
}

// Gradients made by a layer instant when only some tensors train (LoRA): the trainable ones of
// the layers already done, of lm_head and the final norm, and this layer's so far, in their dtype.
Bytes trainable_grads_made(Instant i, const StepContext& ctx, const ModelStates& s) {
  const ParameterCounts& pc = ctx.params;
  std::uint64_t layer = 0, in_layer = 0, head = 0;
  for (const auto& t : pc.tensors) {
    if (!t.trainable) continue;
    if (t.scope == ParamScope::kLmHead || t.scope == ParamScope::kFinalNorm) head += t.total();
    if (t.scope != ParamScope::kLayer) continue;
    layer += t.numel();
    const bool done = t.backward_region == BackwardRegion::kOutput ||
                      (!is_mlp(i) && t.backward_region == BackwardRegion::kAfterAttention);
    if (done) in_layer += t.numel();
  }
  const std::uint64_t earlier = is_last_layer(i) ? 0 : checked_mul(layer, ctx.model.num_layers - 1);
  const std::uint64_t made = head + earlier + in_layer;
  return pc.trainable == 0 ? 0 : s.gradients.bytes / pc.trainable * made;
}

void states_at(Instant i, const StepContext& ctx, const StepParts& p, const LayerShape& shape, const LayoutPolicy& policy,
               Moment& m) {
  const ModelStates& s = p.rank.states;
  m.add(ComponentId::kWeights, s.weights.bytes);
  m.add(ComponentId::kMasterWeights, s.master_weights.bytes);
  m.add(ComponentId::kOptimizerStates, s.optimizer_states.bytes);
  if (ctx.setup.optimizer_in_backward) {
    in_backward_states_at(i, ctx, p, shape, m);
    return;
  }
  const bool persistent = p.rank.gradients_persistent || ctx.setup.grad_accum > 1;
  const char* kept = p.rank.gradients_persistent ? "gradient partition kept between steps by the layout"
                                                 : "kept across micro-batches (grad_accum > 1)";
  if (auto g = policy.gradients_at(i, ctx, p.rank)) {
    m.add(ComponentId::kGradients, g->bytes, g->note);
  } else if (i == kBackwardEnd || i == kStep) {
    m.add(ComponentId::kGradients, s.gradients.bytes);
  } else if (persistent) {
    m.add(ComponentId::kGradients, s.gradients.bytes, kept);
  } else if (is_layer(i) && !is_last_layer(i) && p.act.first_layer_working > 0) {
    const std::uint64_t made = ctx.params.total - std::min(ctx.params.total, p.act.first_layer_pending_params);
    m.add(ComponentId::kGradients, std::min(checked_mul(made, precision_bytes(ctx.setup.precision).grad), s.gradients.bytes),
          "every gradient but the first block's and the embedding's");
  } else if (is_layer(i) && ctx.params.trainable != ctx.params.total) {
    m.add(ComponentId::kGradients, trainable_grads_made(i, ctx, s),
          is_last_layer(i) ? "trainable tensors of the head and this layer so far" : "trainable tensors of every later layer and this one so far");
  } else if (is_layer(i)) {
    const ParameterCounts& pc = ctx.params;
    const std::uint64_t in_layer = is_mlp(i) ? shape.at_mlp : shape.at_attn;
    const std::uint64_t after = is_last_layer(i) ? shape.head + pc.final_norm
                                                 : pc.total - (ctx.model.output_tied() ? 0 : pc.embedding) - pc.per_layer;
    const Bytes made = checked_mul(after + in_layer, precision_bytes(ctx.setup.precision).grad);
    m.add(ComponentId::kGradients, std::min(made, s.gradients.bytes),
          is_last_layer(i) ? "lm_head, final norm and this layer's so far" : "every gradient but the embedding's and this layer's rest");
  }
  if (i == kStep) {
    m.add(ComponentId::kGradFp32Copy, s.grad_fp32_copy.bytes);
    m.add(ComponentId::kOptimizerStepTemp, s.optimizer_step_temp.bytes);
  }
}

// Autocast caches the bf16 cast of each fp32 weight from its first use until backward has
// used it: all of them after the forward; a checkpointed layer's only during its recompute.
void autocast_at(Instant i, const StepContext& ctx, const StepParts& p, const LayerShape& shape, Moment& m) {
  if (ctx.setup.precision != Precision::kAmp) return;
  if (ctx.setup.fp8 != Fp8Recipe::kNone) return fp8_autocast_at(i, ctx, shape.head, m);
  const Bytes cache = p.rank.states.autocast_cache.bytes;
  const Bytes head = checked_mul(shape.head, 2);
  const Bytes layer = checked_mul(shape.layer_matmul, 2);
  const bool ckpt = ctx.setup.grad_ckpt == GradCkpt::kFull;
  const Bytes released = checked_mul(is_mlp(i) ? shape.at_mlp_matmul : shape.at_attn_matmul, 2);
  switch (i) {
    case kForwardLoss: m.add(ComponentId::kAutocastCache, cache); break;
    case kForwardLastLayer: m.add(ComponentId::kAutocastCache, cache - head); break;
    case kBackwardLoss:
    case kBackwardHead:
      m.add(ComponentId::kAutocastCache, ckpt ? head : cache,
            ckpt ? "only lm_head's cast is saved (checkpointed layers ran without grad)" : "");
      break;
    case kBackwardLastMlp:
    case kBackwardLastAttn: m.add(ComponentId::kAutocastCache, (ckpt ? layer : cache - head) - released); break;
    case kBackwardFirstMlp:
    case kBackwardFirstAttn: m.add(ComponentId::kAutocastCache, layer - released); break;
    default: break;
  }
}

// With activation offloading the other layers' saved tensors are on the host: what stays is their
// tensors under 1024 B (all layers' at the last layer's backward), the outside parts less the RoPE
// tables; the final norm's are released by then.
Bytes offloaded_other_layers(const Activations& a, bool last_layer) {
  const Bytes outside = a.outside - a.offload.rope_moved - a.final_norm_saved;
  if (!last_layer) return outside;
  const Bytes stack = a.stack.bytes - a.offload.small_per_layer - a.final_norm_saved;
  return std::max(stack, outside);
}

// Saved activations: all of them until the layers' backward starts; then every other layer's
// and, for the layer in backward, its saved (or recomputed) tensors not yet released plus its
// gradient buffers.
void activations_at(Instant i, const StepContext& ctx, const StepParts& p, Moment& m) {
  const Activations& a = p.act;
  // A classification head runs after the last layer: during that layer's forward its saved tensors
  // (the pooler's input, tanh) do not exist yet. (The same holds for an LM head; left as it is there.)
  const Bytes head_not_yet = i == kForwardLastLayer && ctx.model.head == ModelHead::kSeqCls ? a.final_norm_saved : 0;
  if (is_forward(i) || i == kBackwardLoss || i == kBackwardHead) m.add(ComponentId::kActivations, a.stack.bytes - head_not_yet);
  // The materialised mask is built once per forward and read by every layer; `scores + mask`
  // and SDPA's conversion save nothing of it, so it dies with the layer stack, unless the
  // layers are checkpointed: each checkpoint keeps its inputs, the mask among them, until its
  // recompute in backward (transformers 5 masking_utils; measured, tools/measure/FINDINGS.md §5).
  const bool held = ctx.setup.grad_ckpt != GradCkpt::kNone;
  if (i == kForwardLastLayer || (held && i != kBackwardEnd && i != kStep)) {
    m.add(ComponentId::kAttentionMask, a.forward_masks.bytes, held ? "kept by the checkpointed layers for their recompute" : "");
  }
  if (i == kForwardLastLayer) m.add(ComponentId::kLayerForward, a.forward_transient, "one layer's forward temporaries");
  if (i == kForwardLastLayer && a.offload.enabled) {
    m.add(ComponentId::kActivationOffloadInFlight, a.offload.forward_in_flight, "saves still in the forward stash until their copy's event");
  }
  if (!is_layer(i)) return;
  if (a.offload.enabled) {
    m.add(ComponentId::kActivationOffloadInFlight, a.offload.backward_in_flight, "the previous node's tensors brought back from the host");
  }
  if (a.first_layer_working > 0 && !is_last_layer(i)) {  // a family that itemises its first layer's backward (T5 checkpointed)
    m.add(ComponentId::kActivations, a.first_layer_outside, "ids");
    m.add(ComponentId::kLayerBackward, a.first_layer_working, "the first layer's recompute and backward (see the activations term)");
    return;
  }
  const Bytes other = a.offload.enabled ? offloaded_other_layers(a, is_last_layer(i))
                      : is_last_layer(i) ? a.stack.bytes - a.kept_per_layer - a.final_norm_saved : a.outside - a.final_norm_saved;
  m.add(ComponentId::kActivations, other, is_last_layer(i) ? "every other layer, ids, RoPE tables" : "ids, RoPE tables");
  const Bytes materialised = checked_add(a.kept_per_layer, a.recompute);
  const Bytes freed = is_mlp(i) ? a.freed_before_mlp_peak : a.freed_before_attn_peak;
  const Bytes transient = is_mlp(i) ? a.mlp_backward_transient : a.attn_backward_transient;
  m.add(ComponentId::kLayerBackward, checked_add(materialised > freed ? materialised - freed : 0, transient),
        "this layer's saved/recomputed tensors + gradient buffers");
}

// `compute`: the setup in the layout's compute dtype (FSDP's param_dtype makes the logits and their gradient bf16).
void loss_at(Instant i, const StepContext& ctx, const TrainingSetup& compute, const StepParts& p, Moment& m) {
  if (i == kForwardLoss) m.add(ComponentId::kLogitsLoss, p.loss.forward.bytes);
  if (i == kBackwardLoss) m.add(ComponentId::kLogitsLoss, p.loss.backward.bytes);
  if (i == kBackwardHead && ctx.setup.loss == LossImpl::kFused) {
    // The fused linear cross-entropy computed lm_head's input and weight gradients in its
    // forward; its backward only scales them. No logits or logits gradient exist.
    m.add(ComponentId::kLogitsLoss, p.loss.backward.bytes, "gradients stored by the fused loss (no logits)");
  } else if (i == kBackwardHead && (p.mp == nullptr || p.mp->head)) {
    const TrainingSetup& s = ctx.setup;
    const Bytes rows = ctx.model.head == ModelHead::kSeqCls ? s.micro_batch : checked_mul(output_seq(ctx.model, s), s.micro_batch);
    const Bytes cols = ctx.model.head == ModelHead::kSeqCls ? ctx.model.num_labels : ctx.model.vocab_size;
    const Bytes logits_grad = checked_product({precision_bytes(compute.precision).compute, rows, cols});
    m.add(ComponentId::kLogitsLoss, logits_grad, "gradient of the logits");
  }
}

constexpr std::array kStepInstants = {kForwardLoss, kForwardLastLayer, kBackwardLoss, kBackwardHead, kBackwardLastMlp,
                                      kBackwardFirstMlp, kBackwardLastAttn, kBackwardFirstAttn, kBackwardEnd, kStep};

}  // namespace

std::vector<Moment> build_timeline(const StepContext& ctx, const LayoutPolicy& policy, const StepParts& parts) {
  const LayerShape shape = layer_shape(ctx, parts.mp == nullptr || parts.mp->head);
  std::vector<Moment> timeline = {parts.load.moment};
  for (Instant i : kStepInstants) {
    const bool in_bwd = ctx.setup.optimizer_in_backward;
    // Stepped inside backward: no step() instant, and lm_head's backward is where its gradient,
    // stepped at once, meets the logits' gradient.
    const bool fp8_head = ctx.setup.fp8 != Fp8Recipe::kNone && !ctx.setup.fp8_te && fp8_converts_head(ctx.model);  // lm_head's fp8 backward
    if (!policy.has(i) && !(in_bwd && i == kBackwardHead) && !(fp8_head && i == kBackwardHead)) continue;
    if (i == kStep && in_bwd) continue;
    Moment m{i, parts.mp != nullptr ? stage_label(i, *parts.mp) : std::string(info(i).label), {}};
    if (fp8_head && i == kBackwardHead && !policy.has(i)) m.label = "lm_head backward (float8 casts of the logits' gradient)";
    states_at(i, ctx, parts, shape, policy, m);
    policy.buffers_at(i, ctx, parts.rank, m);
    autocast_at(i, ctx, parts, shape, m);
    activations_at(i, ctx, parts, m);
    loss_at(i, ctx, policy.compute_setup(ctx.setup), parts, m);
    fp8_at(i, ctx, policy.compute_setup(ctx.setup), parts.loss, m);
    m.add(ComponentId::kCublasWorkspace, parts.cublas.bytes);
    if (parts.mp != nullptr) model_parallel_at(i, *parts.mp, m);
    timeline.push_back(std::move(m));
  }
  return timeline;
}

}  // namespace vramcalc
