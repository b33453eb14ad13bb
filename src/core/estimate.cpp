// Composes the memory terms into phases of one training step and finds the peak
// (modeling.md §7). Steady state: the optimizer states exist (they are created lazily at the
// first step), gradients are set to None after each step (HF Trainer, torch ≥ 2.0), so with
// grad_accum = 1 they live only from backward to the step.
#include <vramcalc/estimate.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/overhead.hpp>
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

}  // namespace

Estimate estimate(const EstimateInputs& in) {
  const ModelConfig& m = in.model;
  const TrainingSetup& setup = in.setup;
  require_positive(setup.seq_len, "--seq");
  require_positive(setup.micro_batch, "--batch");
  require_positive(setup.grad_accum, "--grad-accum");
  require_positive(setup.loss_chunks, "--loss-chunks");
  require_positive(in.layout.gpus, "--gpus");
  if (!(setup.fragmentation >= 0.0 && setup.fragmentation <= 1.0)) {
    throw InputError("--fragmentation", fmt::format("{}", setup.fragmentation), "must be between 0 and 1");
  }
  (void)checked_product({setup.seq_len, setup.micro_batch, setup.seq_len, m.num_heads, 16});
  (void)checked_product({setup.seq_len, setup.micro_batch, m.vocab_size, 16});

  Estimate est;
  est.inputs = in;
  est.params = count_parameters(m);
  const ParameterCounts& pc = est.params;
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const ModelStates states = model_states(m, pc, setup);
  est.activations = activations(m, setup);
  const Activations& act = est.activations;
  const LogitsLoss loss = logits_loss(m, setup);
  const Term cublas = cublas_workspace(in.gpu);
  const Term context = cuda_context(in.gpu, in.cuda_context_bytes);

  const bool accumulating = setup.grad_accum > 1;
  const bool ckpt = setup.grad_ckpt == GradCkpt::kFull;
  const Bytes L = m.num_layers;
  const Bytes head_params = checked_mul(m.vocab_size, m.hidden_size);  // lm_head (or tied embedding) in lm_head's matmul
  const Bytes layer_matmul = (pc.matmul_weights - head_params) / L;
  const Bytes g = pb.grad;

  auto base = [&](Point& p) {
    p.add("weights", states.weights.bytes);
    p.add("master_weights", states.master_weights.bytes);
    p.add("optimizer_states", states.optimizer_states.bytes);
    p.add("cublas_workspace", cublas.bytes);
  };
  auto grads_before_backward = [&](Point& p) {
    if (accumulating) p.add("gradients", states.gradients.bytes, "kept across micro-batches (grad_accum > 1)");
  };
  // Gradients alive once backward has reached a point; with accumulation they always are.
  auto grads_partial = [&](Point& p, Bytes params, const std::string& note) {
    if (accumulating) {
      p.add("gradients", states.gradients.bytes, "kept across micro-batches (grad_accum > 1)");
    } else {
      p.add("gradients", checked_mul(params, g), note);
    }
  };
  const Bytes cache_layer = pb.weight == 4 && setup.precision == Precision::kAmp ? checked_mul(layer_matmul, 2) : 0;
  const Bytes cache_head = setup.precision == Precision::kAmp ? checked_mul(head_params, 2) : 0;

  // ---- forward ----------------------------------------------------------------------------
  Point fwd_loss{"loss forward (logits, fp32 upcast, log-softmax)", {}};
  base(fwd_loss);
  grads_before_backward(fwd_loss);
  fwd_loss.add("autocast_cache", states.autocast_cache.bytes);
  fwd_loss.add("activations", act.stack.bytes);
  fwd_loss.add("attention_mask", act.forward_masks.bytes);
  fwd_loss.add("logits_loss", loss.forward.bytes);
  Point fwd_layer{"last decoder layer's forward", {}};
  base(fwd_layer);
  grads_before_backward(fwd_layer);
  fwd_layer.add("autocast_cache", states.autocast_cache.bytes - cache_head);
  fwd_layer.add("activations", act.stack.bytes);
  fwd_layer.add("attention_mask", act.forward_masks.bytes);
  fwd_layer.add("layer_forward", act.forward_transient, "one layer's forward temporaries");

  // ---- backward ---------------------------------------------------------------------------
  // (a) the loss backward, all activations still saved.
  Point bwd_loss{"start of backward (loss backward)", {}};
  base(bwd_loss);
  grads_before_backward(bwd_loss);
  bwd_loss.add("autocast_cache", ckpt ? cache_head : states.autocast_cache.bytes,
               ckpt ? "only lm_head's cast is saved (checkpointed layers ran without grad)" : "");
  bwd_loss.add("activations", act.stack.bytes);
  bwd_loss.add("logits_loss", loss.backward.bytes);
  // (b) the last decoder layer's backward: lm_head, final norm and this layer have grads.
  Point bwd_last{"backward of the last decoder layer", {}};
  base(bwd_last);
  grads_partial(bwd_last, head_params + pc.final_norm + pc.per_layer, "lm_head, final norm and one layer so far");
  bwd_last.add("autocast_cache", ckpt ? cache_layer : states.autocast_cache.bytes - cache_head);
  bwd_last.add("activations", act.stack.bytes);
  bwd_last.add("layer_backward", act.backward_working.bytes, "recompute and gradient buffers of one layer");
  // (c) the first layer's backward: all layer grads exist, one layer's activations remain.
  Point bwd_first{"backward of the first decoder layer", {}};
  base(bwd_first);
  grads_partial(bwd_first, pc.total - (m.tie_word_embeddings ? 0 : pc.embedding),
                "every gradient but the embedding's");
  bwd_first.add("autocast_cache", cache_layer);
  bwd_first.add("activations", checked_add(act.kept_per_layer, act.outside), "first layer + ids, RoPE tables");
  bwd_first.add("layer_backward", act.backward_working.bytes, "recompute and gradient buffers of one layer");
  // (d) the end of backward: every gradient.
  Point bwd_end{"end of backward (all gradients)", {}};
  base(bwd_end);
  bwd_end.add("gradients", states.gradients.bytes);

  // ---- optimizer step ---------------------------------------------------------------------
  Point step{"optimizer.step()", {}};
  base(step);
  step.add("gradients", states.gradients.bytes);
  step.add("grad_fp32_copy", states.grad_fp32_copy.bytes);
  step.add("optimizer_step_temp", states.optimizer_step_temp.bytes);

  est.phases.push_back(phase_from("forward", {fwd_loss, fwd_layer}));
  est.phases.push_back(phase_from("backward", {bwd_loss, bwd_last, bwd_first, bwd_end}));
  est.phases.push_back(phase_from("optimizer_step", {step}));
  est.peak_phase = 0;
  for (std::size_t i = 1; i < est.phases.size(); ++i) {
    if (est.phases[i].allocated > est.phases[est.peak_phase].allocated) est.peak_phase = i;
  }
  est.peak_allocated = est.phases[est.peak_phase].allocated;

  const Term reserve = allocator_reserve(est.peak_allocated, setup.fragmentation);
  est.peak_reserved = checked_add(est.peak_allocated, reserve.bytes);
  est.non_pytorch = context.bytes;
  est.device_total = checked_add(est.peak_reserved, est.non_pytorch);

  // ---- components in report order, with their bytes at the peak and at their largest --------
  Term layer_forward{"layer_forward", act.forward_transient,
                     "eager: one bf16 s×s score tensor alive while the fp32 softmax is made; SDPA: 0",
                     "transformers eager_attention_forward", true};
  const std::vector<Term> allocated_terms = {
      states.weights,     states.master_weights,      states.gradients,      states.optimizer_states,
      states.optimizer_step_temp, states.grad_fp32_copy, states.autocast_cache, act.stack,
      act.forward_masks,  layer_forward,              act.backward_working,  loss.forward,
      cublas};
  const Phase& peak = est.phases[est.peak_phase];
  for (const Term& t : allocated_terms) {
    Component c{t, 0, TermKind::kAllocated};
    c.term.bytes = 0;
    for (const auto& e : peak.entries) {
      if (e.name == t.name) c.term.bytes = e.bytes;
    }
    for (const auto& ph : est.phases) {
      for (const auto& e : ph.entries) {
        if (e.name == t.name) c.max_bytes = std::max(c.max_bytes, e.bytes);
      }
    }
    if (t.name == "logits_loss") {
      c.term.formula = fmt::format("forward: {}; backward: {}", loss.forward.formula, loss.backward.formula);
    }
    const bool applies = c.max_bytes > 0 || t.name == "weights" || t.name == "gradients" ||
                         t.name == "optimizer_states" || t.name == "activations" || t.name == "logits_loss" ||
                         (t.name == "master_weights" && t.bytes > 0);
    if (applies) est.components.push_back(std::move(c));
  }
  est.components.push_back({reserve, reserve.bytes, TermKind::kReserve});
  est.components.push_back({context, context.bytes, TermKind::kNonPytorch});

  if (in.memory_budget) {
    est.capacity = in.memory_budget;
    est.capacity_label = "--gpu-mem";
  } else if (in.gpu) {
    est.capacity = in.gpu->capacity;
    est.capacity_label = in.gpu->name;
  }
  return est;
}

}  // namespace vramcalc
