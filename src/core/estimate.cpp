// Composes the memory terms into the phases of one training step on one rank and finds the
// peak (torch.cuda.max_memory_allocated over the step). Steady state: the optimizer states exist (they are created lazily at
// the first step); with grad_accum = 1 and no ZeRO gradient buffers, gradients are set to None
// after each step (HF Trainer, torch ≥ 2.0) and live only from backward to the step.
#include <vramcalc/estimate.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/overhead.hpp>
#include <vramcalc/sharding.hpp>
#include <vramcalc/vramcalc.hpp>

namespace vramcalc {

const char* version() { return VRAMCALC_VERSION; }

const char* to_string(TermKind kind) {
  switch (kind) {
    case TermKind::kAllocated: return "allocated";
    case TermKind::kReserve: return "reserve";
    case TermKind::kNonPytorch: return "non_pytorch";
  }
  return "?";
}

const Component* Estimate::find(const std::string& name) const {
  for (const auto& c : components) {
    if (c.term.name == name) return &c;
  }
  return nullptr;
}

const Phase* Estimate::phase(const std::string& name) const {
  for (const auto& p : phases) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Bytes Phase::bytes_of(const std::string& component) const {
  for (const auto& e : entries) {
    if (e.name == component) return e.bytes;
  }
  return 0;
}

namespace {

void require_positive(std::uint64_t value, const char* field) {
  if (value == 0) throw InputError(field, "0", "must be a positive integer");
}

// One candidate moment inside a phase.
struct Point {
  std::string label;
  std::vector<PhaseEntry> entries;
  Bytes total() const {
    Bytes t = 0;
    for (const auto& e : entries) t = checked_add(t, e.bytes);
    return t;
  }
  void add(const std::string& name, Bytes bytes, std::string note = "") {
    if (bytes > 0) entries.push_back({name, bytes, std::move(note)});
  }
};

Phase phase_from(const std::string& name, std::vector<Point> points) {
  const auto best = std::max_element(points.begin(), points.end(),
                                     [](const Point& a, const Point& b) { return a.total() < b.total(); });
  return {name, best->label, best->total(), best->entries};
}

Estimate compute(const EstimateInputs& in);

// Re-estimates with one change and keeps it when it lowers the device peak.
void consider(Estimate& est, const std::string& action, const std::string& why, EstimateInputs variant) {
  variant.with_advice = false;
  const Estimate after = compute(variant);
  if (after.device_total < est.device_total) est.advice.push_back({action, why, est.device_total, after.device_total});
}

void add_advice(Estimate& est) {
  const EstimateInputs& in = est.inputs;
  const Phase& peak = est.phases[est.peak_phase];
  auto at_peak = [&](const std::string& name) {
    for (const auto& e : peak.entries) {
      if (e.name == name) return e.bytes;
    }
    return Bytes{0};
  };
  const Bytes total = est.peak_allocated;
  const ZeroSettings& z = in.layout.zero;
  if (est.load_sets_peak() && z.stage == 3 && !z.zero3_init) {
    EstimateInputs v = in;
    v.layout.zero.zero3_init = true;
    consider(est, "create the model under deepspeed.zero.Init (--zero-init; Accelerate zero3_init_flag: true)",
             "loading puts the whole model on every GPU before ZeRO-3 partitions it", v);
  }
  const Bytes acts = at_peak("activations") + at_peak("layer_backward");
  if (in.setup.grad_ckpt != GradCkpt::kFull && acts * 3 >= total) {
    EstimateInputs v = in;
    v.setup.grad_ckpt = GradCkpt::kFull;
    consider(est, "--grad-ckpt full (gradient checkpointing)", "activations are a third or more of the peak, and every rank holds its own", v);
  }
  if (in.setup.loss == LossImpl::kFull && at_peak("logits_loss") * 5 >= total) {
    EstimateInputs v = in;
    v.setup.loss = LossImpl::kFused;
    consider(est, "--loss fused (fused linear cross-entropy, e.g. Liger)", "logits and loss gradients are a fifth or more of the peak", v);
    v.setup.loss = LossImpl::kChunked;
    consider(est, "--loss chunked (chunked cross-entropy)", "logits and loss gradients are a fifth or more of the peak", v);
  }
  Bytes states = 0;
  for (const char* name : {"weights", "master_weights", "gradients", "optimizer_states", "optimizer_step_temp", "grad_fp32_copy"}) {
    states += at_peak(name);
  }
  if (states * 2 >= total) {
    const std::string why = "model states are half or more of the peak";
    if (in.layout.gpus > 1 && z.stage < 3) {
      EstimateInputs v = in;
      v.layout.zero = default_zero_settings(3, in.model.hidden_size, true);
      v.layout.zero.zero3_init = true;
      consider(est, "--zero 3 (shard parameters, gradients and optimizer states)", why, v);
    }
    if (z.stage >= 1) {
      EstimateInputs v = in;
      v.layout.gpus = in.layout.gpus * 2;
      consider(est, fmt::format("--gpus {} (twice the ranks: each holds a smaller shard)", v.layout.gpus), why, v);
    }
    if (z.stage >= 1 && z.offload_optimizer.device == OffloadDevice::kNone) {
      EstimateInputs v = in;
      v.layout.zero.offload_optimizer.device = OffloadDevice::kCpu;
      consider(est, "--offload-optimizer cpu (ZeRO-Offload: optimizer states and step in host RAM)", why, v);
    }
    if (in.setup.optimizer == Optimizer::kAdamW) {
      EstimateInputs v = in;
      v.setup.optimizer = Optimizer::kAdamWFused;
      consider(est, "--optimizer adamw-fused (no parameter-sized temporary at the step)", why, v);
    }
  }
}

Estimate compute(const EstimateInputs& in) {
  const ModelConfig& m = in.model;
  const TrainingSetup& setup = in.setup;
  require_positive(setup.seq_len, field::kSeqLen);
  require_positive(setup.micro_batch, field::kMicroBatch);
  require_positive(setup.grad_accum, field::kGradAccum);
  require_positive(setup.loss_chunks, field::kLossChunks);
  validate_layout(in.layout);
  if (!(setup.fragmentation >= 0.0 && setup.fragmentation <= 1.0)) {
    throw InputError(field::kFragmentation, fmt::format("{}", setup.fragmentation), "must be between 0 and 1");
  }
  (void)checked_product({setup.seq_len, setup.micro_batch, setup.seq_len, m.num_heads, 16});
  (void)checked_product({setup.seq_len, setup.micro_batch, m.vocab_size, 16});

  Estimate est;
  est.inputs = in;
  est.params = count_parameters(m);
  const ParameterCounts& pc = est.params;
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const ModelStates full_states = model_states(m, pc, setup);
  const RankStates rank = shard_states(m, pc, setup, full_states, in.layout);
  const ModelStates& states = rank.states;
  est.activations = activations(m, setup);
  const Activations& act = est.activations;
  const LogitsLoss loss = logits_loss(m, setup);
  const Term cublas = cublas_workspace(in.gpu);
  const Term context = cuda_context(in.gpu, in.cuda_context_bytes);
  const Term nccl = nccl_buffers(in.layout);
  est.load = load_phase(m, pc, setup, in.layout, in.load);
  est.host = host_memory(pc, setup, full_states, in.layout);

  const bool accumulating = setup.grad_accum > 1;
  const bool persistent_grads = rank.gradients_persistent || accumulating;
  const bool ckpt = setup.grad_ckpt == GradCkpt::kFull;
  const bool zero3 = in.layout.zero.stage == 3;
  const Bytes L = m.num_layers;
  const Bytes head_params = checked_mul(m.vocab_size, m.hidden_size);  // lm_head (or tied embedding) in lm_head's matmul
  const Bytes layer_matmul = (pc.matmul_weights - head_params) / L;
  const Bytes g = pb.grad;
  const Bytes logits_grad = checked_product({pb.compute, setup.seq_len, setup.micro_batch, m.vocab_size});

  auto base = [&](Point& p) {
    p.add("weights", states.weights.bytes);
    p.add("master_weights", states.master_weights.bytes);
    p.add("optimizer_states", states.optimizer_states.bytes);
    p.add("persistent_params", rank.persistent_params.bytes);
    if (rank.reduce_bucket_always) p.add("reduce_bucket", rank.reduce_bucket.bytes);
    p.add("cublas_workspace", cublas.bytes);
  };
  const std::string persistent_note = rank.gradients_persistent ? "ZeRO gradient partition, kept between steps"
                                                                : "kept across micro-batches (grad_accum > 1)";
  auto grads_before_backward = [&](Point& p) {
    if (persistent_grads) p.add("gradients", states.gradients.bytes, persistent_note);
  };
  // Gradients alive once backward has reached a point.
  auto grads_partial = [&](Point& p, Bytes params, const std::string& note) {
    if (persistent_grads) {
      p.add("gradients", states.gradients.bytes, persistent_note);
    } else {
      p.add("gradients", std::min(checked_mul(params, g), states.gradients.bytes), note);
    }
  };
  auto backward_buffers = [&](Point& p) {
    if (!rank.reduce_bucket_always) p.add("reduce_bucket", rank.reduce_bucket.bytes);
    p.add("reduce_scatter_temp", rank.reduce_scatter_temp.bytes);
  };
  const Bytes cache_layer = setup.precision == Precision::kAmp ? checked_mul(layer_matmul, 2) : 0;
  const Bytes cache_head = setup.precision == Precision::kAmp ? checked_mul(head_params, 2) : 0;
  // ZeRO-3 gathers modules as it computes them: the largest (embedding / lm_head) at the model's
  // ends, one layer's largest matrix inside the stack.
  const Bytes gathered_head = zero3 ? rank.gathered_params.bytes : 0;
  const Bytes prefetch = zero3 ? std::min(in.layout.zero.stage3_prefetch_bucket_size, in.layout.zero.stage3_max_live_parameters) : 0;
  Bytes gathered_layer = 0;
  if (zero3) {
    std::uint64_t largest_in_layer = 0;
    for (const auto& t : pc.tensors) {
      if (t.name.rfind("layers.", 0) == 0) largest_in_layer = std::max(largest_in_layer, t.numel());
    }
    gathered_layer = checked_mul(largest_in_layer + prefetch, pb.weight);
  }

  // ---- load ------------------------------------------------------------------------------------
  Point load{est.load.gpu_point, {}};
  for (const auto& t : est.load.gpu_terms) load.add(t.name == "weights_partition" ? "weights" : t.name, t.bytes);
  // Merge duplicate names (weights + its partition during conversion).
  {
    std::vector<PhaseEntry> merged;
    for (const auto& e : load.entries) {
      auto it = std::find_if(merged.begin(), merged.end(), [&](const PhaseEntry& x) { return x.name == e.name; });
      if (it == merged.end()) {
        merged.push_back(e);
      } else {
        it->bytes += e.bytes;
        it->note = "full model plus its partition while ZeRO-3 converts it";
      }
    }
    load.entries = merged;
  }

  // ---- forward ---------------------------------------------------------------------------------
  Point fwd_loss{"loss forward (logits, fp32 upcast, log-softmax)", {}};
  base(fwd_loss);
  grads_before_backward(fwd_loss);
  fwd_loss.add("gathered_params", gathered_head, "lm_head gathered");
  fwd_loss.add("autocast_cache", states.autocast_cache.bytes);
  fwd_loss.add("activations", act.stack.bytes);
  fwd_loss.add("attention_mask", act.forward_masks.bytes);
  fwd_loss.add("logits_loss", loss.forward.bytes);
  Point fwd_layer{"last decoder layer's forward", {}};
  base(fwd_layer);
  grads_before_backward(fwd_layer);
  fwd_layer.add("gathered_params", gathered_layer, "one layer's module + prefetch");
  fwd_layer.add("autocast_cache", states.autocast_cache.bytes - cache_head);
  fwd_layer.add("activations", act.stack.bytes);
  fwd_layer.add("attention_mask", act.forward_masks.bytes);
  fwd_layer.add("layer_forward", act.forward_transient, "one layer's forward temporaries");

  // ---- backward --------------------------------------------------------------------------------
  // (a) the loss backward, all activations still saved.
  Point bwd_loss{"start of backward (loss backward)", {}};
  base(bwd_loss);
  grads_before_backward(bwd_loss);
  bwd_loss.add("gathered_params", gathered_head, "lm_head kept gathered (stage3_max_reuse_distance)");
  bwd_loss.add("autocast_cache", ckpt ? cache_head : states.autocast_cache.bytes,
               ckpt ? "only lm_head's cast is saved (checkpointed layers ran without grad)" : "");
  bwd_loss.add("activations", act.stack.bytes);
  bwd_loss.add("logits_loss", loss.backward.bytes);
  if (!rank.reduce_bucket_always) bwd_loss.add("reduce_bucket", rank.reduce_bucket.bytes);  // made when backward starts
  std::vector<Point> backward_points;
  backward_points.push_back(bwd_loss);
  if (zero3) {
    // (a') lm_head's backward under ZeRO-3: its gathered weight and full-size gradient.
    Point bwd_head{"lm_head backward (ZeRO-3: gathered weight and its full gradient)", {}};
    base(bwd_head);
    grads_before_backward(bwd_head);
    bwd_head.add("gathered_params", gathered_head, "lm_head gathered");
    bwd_head.add("gathered_grad", rank.gathered_grad.bytes, "lm_head's full gradient");
    bwd_head.add("autocast_cache", ckpt ? cache_head : states.autocast_cache.bytes);
    bwd_head.add("activations", act.stack.bytes);
    bwd_head.add("logits_loss", logits_grad, "gradient of the logits");
    backward_buffers(bwd_head);
    backward_points.push_back(bwd_head);
  }
  // (b), (c) a decoder layer's backward, at its MLP peak (down_proj has run: its gradient exists,
  // its saved input is released) and at its attention peak (MLP, later norms and o_proj have
  // run); for the last layer (lm_head, final norm grads) and the first (all other grads). The
  // layer's own saved tensors (and, with checkpointing, its recomputed ones) are listed as
  // layer_backward with the gradient buffers of that moment.
  auto params_named = [&](std::initializer_list<const char*> prefixes, bool matmul_only) {
    std::uint64_t n = 0;
    for (const auto& t : pc.tensors) {
      for (const char* prefix : prefixes) {
        if (t.name.rfind(prefix, 0) == 0 && (t.matmul || !matmul_only)) n += t.numel();
      }
    }
    return n;
  };
  const auto after_attn = {"layers.*.mlp.", "layers.*.self_attn.o_proj.", "layers.*.post_attention_layernorm.",
                           "layers.*.pre_feedforward_layernorm.", "layers.*.post_feedforward_layernorm."};
  const std::uint64_t down_params = params_named({"layers.*.mlp.down_proj."}, false);
  const std::uint64_t after_attn_params = params_named(after_attn, false);
  // Autocast's weight casts are released with each Linear's backward.
  const bool amp = setup.precision == Precision::kAmp;
  const Bytes down_cast = amp ? checked_mul(params_named({"layers.*.mlp.down_proj."}, true), 2) : 0;
  const Bytes after_attn_cast = amp ? checked_mul(params_named(after_attn, true), 2) : 0;
  const Bytes layer_materialised = checked_add(act.kept_per_layer, act.recompute);
  auto layer_live = [&](Bytes freed, Bytes transient) {
    return checked_add(layer_materialised > freed ? layer_materialised - freed : 0, transient);
  };
  const Bytes other_layers = act.stack.bytes - act.kept_per_layer - act.final_norm_saved;
  const Bytes earlier_grads = pc.total - (m.tie_word_embeddings ? 0 : pc.embedding) - pc.per_layer;
  struct LayerMoment {
    const char* label;
    Bytes layer_grads;
    Bytes freed;
    Bytes transient;
    Bytes casts_released;
  };
  const LayerMoment moments[] = {
      {"MLP", down_params, act.freed_before_mlp_peak, act.mlp_backward_transient, down_cast},
      {"attention", after_attn_params, act.freed_before_attn_peak, act.attn_backward_transient, after_attn_cast}};
  for (const auto& mo : moments) {
    Point last{fmt::format("{} backward of the last decoder layer", mo.label), {}};
    base(last);
    grads_partial(last, head_params + pc.final_norm + mo.layer_grads, "lm_head, final norm and this layer's so far");
    last.add("gathered_params", gathered_layer, "one layer's module + prefetch");
    last.add("autocast_cache", (ckpt ? cache_layer : states.autocast_cache.bytes - cache_head) - mo.casts_released);
    last.add("activations", other_layers, "every other layer, ids, RoPE tables");
    last.add("layer_backward", layer_live(mo.freed, mo.transient), "this layer's saved/recomputed tensors + gradient buffers");
    backward_buffers(last);
    backward_points.push_back(last);
    Point first{fmt::format("{} backward of the first decoder layer", mo.label), {}};
    base(first);
    grads_partial(first, earlier_grads + mo.layer_grads, "every gradient but the embedding's and this layer's rest");
    first.add("gathered_params", gathered_layer, "one layer's module + prefetch");
    first.add("autocast_cache", cache_layer - mo.casts_released);
    first.add("activations", act.outside - act.final_norm_saved, "ids, RoPE tables");
    first.add("layer_backward", layer_live(mo.freed, mo.transient), "this layer's saved/recomputed tensors + gradient buffers");
    backward_buffers(first);
    backward_points.push_back(first);
  }
  // (d) the end of backward: every gradient (ZeRO-3: the embedding gathered with its full grad).
  Point bwd_end{"end of backward (all gradients)", {}};
  base(bwd_end);
  bwd_end.add("gradients", states.gradients.bytes);
  if (zero3) {
    bwd_end.add("gathered_params", gathered_head, "embedding gathered");
    bwd_end.add("gathered_grad", rank.gathered_grad.bytes, "embedding's full gradient");
    backward_buffers(bwd_end);
  }
  backward_points.push_back(bwd_end);

  // ---- optimizer step --------------------------------------------------------------------------
  Point step{"optimizer.step()", {}};
  base(step);
  step.add("gradients", states.gradients.bytes);
  step.add("grad_fp32_copy", states.grad_fp32_copy.bytes);
  step.add("optimizer_step_temp", states.optimizer_step_temp.bytes);

  est.phases.push_back(phase_from("load", {load}));
  est.phases.push_back(phase_from("forward", {fwd_loss, fwd_layer}));
  est.phases.push_back(phase_from("backward", backward_points));
  est.phases.push_back(phase_from("optimizer_step", {step}));
  est.peak_phase = 0;
  for (std::size_t i = 1; i < est.phases.size(); ++i) {
    if (est.phases[i].allocated >= est.phases[est.peak_phase].allocated) est.peak_phase = i;
  }
  est.peak_allocated = est.phases[est.peak_phase].allocated;

  const Term reserve = allocator_reserve(est.peak_allocated, setup.fragmentation);
  est.peak_reserved = checked_add(est.peak_allocated, reserve.bytes);
  est.non_pytorch = checked_add(context.bytes, nccl.bytes);
  est.device_total = checked_add(est.peak_reserved, est.non_pytorch);

  // ---- components in report order, with their bytes at the peak and at their largest -----------
  Term layer_forward{"layer_forward", act.forward_transient,
                     "eager: one bf16 s×s score tensor alive while the fp32 softmax is made; SDPA: 0",
                     "transformers eager_attention_forward", true};
  Term logits = loss.forward;
  logits.formula = fmt::format("forward: {}; backward: {}", loss.forward.formula, loss.backward.formula);
  const std::vector<Term> allocated_terms = {
      states.weights,          states.master_weights,   states.gradients,      states.optimizer_states,
      states.optimizer_step_temp, states.grad_fp32_copy, states.autocast_cache, rank.gathered_params,
      rank.gathered_grad,      rank.persistent_params,  rank.reduce_bucket,    rank.reduce_scatter_temp,
      act.stack,               act.forward_masks,       layer_forward,         act.backward_working,
      logits,                  cublas};
  const Phase& peak = est.phases[est.peak_phase];
  for (const Term& t : allocated_terms) {
    Component c{t, 0, t.bytes, TermKind::kAllocated};
    c.term.bytes = 0;
    for (const auto& e : peak.entries) {
      if (e.name == t.name) c.term.bytes = e.bytes;
    }
    for (const auto& ph : est.phases) {
      for (const auto& e : ph.entries) {
        if (e.name == t.name) c.max_bytes = std::max(c.max_bytes, e.bytes);
      }
    }
    const bool always_listed = t.name == "weights" || t.name == "gradients" || t.name == "optimizer_states" ||
                               t.name == "activations" || t.name == "logits_loss" ||
                               (t.name == "master_weights" && full_states.master_weights.bytes > 0);
    if (c.max_bytes > 0 || c.size_bytes > 0 || always_listed) est.components.push_back(std::move(c));
  }
  est.components.push_back({reserve, reserve.bytes, reserve.bytes, TermKind::kReserve});
  est.components.push_back({context, context.bytes, context.bytes, TermKind::kNonPytorch});
  if (nccl.bytes > 0) est.components.push_back({nccl, nccl.bytes, nccl.bytes, TermKind::kNonPytorch});

  if (in.memory_budget) {
    est.capacity = in.memory_budget;
    est.capacity_label = "--gpu-mem";
  } else if (in.gpu) {
    est.capacity = in.gpu->capacity;
    est.capacity_label = in.gpu->name;
  }
  est.cpu_peak_per_node = std::max(est.load.cpu_per_node, est.host.ram_per_node);
  est.cpu_capacity = in.cpu_memory_budget;
  if (in.with_advice) add_advice(est);
  return est;
}

}  // namespace

Estimate estimate(const EstimateInputs& inputs) { return compute(inputs); }

}  // namespace vramcalc
