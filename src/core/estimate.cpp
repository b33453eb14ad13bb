// The estimate: validates the inputs, asks the layout policy and the model's parts for their
// terms, builds the step's timeline, and derives the phases, the peak, the components and the
// verdict from it.
#include <vramcalc/estimate.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/overhead.hpp>
#include <vramcalc/vramcalc.hpp>

#include "core/advice.hpp"
#include "core/lora_activations.hpp"
#include "core/step.hpp"

namespace vramcalc {

const char* version() { return VRAMCALC_VERSION; }

const Component* Estimate::find(ComponentId id) const {
  for (const auto& c : components) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

const Phase* Estimate::phase(PhaseId id) const {
  for (const auto& p : phases) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const Phase* Estimate::phase(std::string_view name) const {
  for (const auto& p : phases) {
    if (p.name() == name) return &p;
  }
  return nullptr;
}

namespace {

void require_positive(std::uint64_t value, const char* id) {
  if (value == 0) throw InputError(id, "0", "must be a positive integer");
}

void validate(const EstimateInputs& in) {
  const TrainingSetup& setup = in.setup;
  require_positive(setup.seq_len, field::kSeqLen);
  require_positive(setup.micro_batch, field::kMicroBatch);
  require_positive(setup.grad_accum, field::kGradAccum);
  require_positive(setup.loss_chunks, field::kLossChunks);
  if (!(setup.fragmentation >= 0.0 && setup.fragmentation <= 1.0)) {
    throw InputError(field::kFragmentation, fmt::format("{}", setup.fragmentation), "must be between 0 and 1");
  }
  (void)checked_product({setup.seq_len, setup.micro_batch, setup.seq_len, in.model.num_heads, 16});
  (void)checked_product({setup.seq_len, setup.micro_batch, in.model.vocab_size, 16});
  if (!setup.lora.enabled() && setup.lora.base_quant != BaseQuant::kNone) {
    throw InputError(field::kBaseQuant, to_string(setup.lora.base_quant), "a quantized base trains only adapters: give a LoRA rank");
  }
  validate_lora(in.model, setup, in.layout.gpus > 1 || in.layout.zero.stage > 0);
}

// Every allocated term that the timeline may hold, one per component.
std::vector<Term> allocated_terms(const ModelStates& s, const RankStates& rank, const Activations& act,
                                  const LogitsLoss& loss, const Term& cublas) {
  Term logits = loss.forward;
  logits.formula = fmt::format("forward: {}; backward: {}", loss.forward.formula, loss.backward.formula);
  Term layer_forward = component_term(ComponentId::kLayerForward, act.forward_transient,
                                      "eager: the masked scores (e·a·s²·b) beside the saved softmax; a checkpointed layer, which saves none: masked scores, their fp32 conversion (bf16) and the fp32 softmax (8 or 10·a·s²·b); SDPA: 0",
                                      "transformers eager_attention_forward", true);
  if (!act.forward_transient_note.empty()) layer_forward.formula += "; " + act.forward_transient_note;
  std::vector<Term> terms = {s.weights, s.master_weights, s.gradients, s.optimizer_states, s.optimizer_step_temp,
                             s.grad_fp32_copy, s.autocast_cache};
  terms.insert(terms.end(), rank.buffers.begin(), rank.buffers.end());
  for (const Term& t : {act.stack, act.forward_masks, layer_forward, act.backward_working, logits, cublas}) terms.push_back(t);
  return terms;
}

// One component per allocated term, in the table's order: its bytes at the peak phase and its
// largest bytes over the phases. A term is listed when it is ever alive, has a size, or is one
// of the terms every user looks for.
void add_components(Estimate& est, const std::vector<Term>& terms, bool regime_has_master) {
  const Phase& peak = est.phases[est.peak_phase];
  for (const ComponentInfo& row : component_table()) {
    if (row.kind != TermKind::kAllocated) continue;
    const Term* t = find_term(terms, row.id);
    if (t == nullptr) continue;
    Component c{row.id, *t, 0, t->bytes, TermKind::kAllocated};
    c.term.bytes = peak.bytes_of(row.id);
    for (const auto& ph : est.phases) c.max_bytes = std::max(c.max_bytes, ph.bytes_of(row.id));
    const bool listed = row.always_listed || (row.id == ComponentId::kMasterWeights && regime_has_master);
    if (c.max_bytes > 0 || c.size_bytes > 0 || listed) est.components.push_back(std::move(c));
  }
}

// The peak phase: the largest, the later one on a tie.
std::size_t peak_index(const std::vector<Phase>& phases) {
  std::size_t peak = 0;
  for (std::size_t i = 1; i < phases.size(); ++i) {
    if (phases[i].allocated >= phases[peak].allocated) peak = i;
  }
  return peak;
}

// The reserve on top of the allocated peak, and non-PyTorch memory.
void add_totals(Estimate& est, const Term& context, const Term& nccl) {
  est.peak_allocated = est.phases[est.peak_phase].allocated;
  const Term reserve = allocator_reserve(est.peak_allocated, est.inputs.setup.fragmentation);
  est.peak_reserved = checked_add(est.peak_allocated, reserve.bytes);
  est.non_pytorch = checked_add(context.bytes, nccl.bytes);
  est.device_total = checked_add(est.peak_reserved, est.non_pytorch);
  est.components.push_back({ComponentId::kAllocatorReserve, reserve, reserve.bytes, reserve.bytes, TermKind::kReserve});
  est.components.push_back({ComponentId::kCudaContext, context, context.bytes, context.bytes, TermKind::kNonPytorch});
  if (nccl.bytes > 0) est.components.push_back({ComponentId::kNcclBuffers, nccl, nccl.bytes, nccl.bytes, TermKind::kNonPytorch});
}

void add_capacity(Estimate& est) {
  const EstimateInputs& in = est.inputs;
  if (in.memory_budget) {
    est.capacity = in.memory_budget;
    est.capacity_label = "";  // a memory budget, not a catalog GPU
  } else if (in.gpu) {
    est.capacity = in.gpu->capacity;
    est.capacity_label = in.gpu->name;
  }
  est.cpu_peak_per_node = std::max(est.load.cpu_per_node, est.host.ram_per_node);
  est.cpu_capacity = in.cpu_memory_budget;
}

}  // namespace

Estimate estimate(const EstimateInputs& in) {
  validate(in);
  const auto policy = make_policy(in.layout);
  Estimate est;
  est.inputs = in;
  est.params = count_parameters(in.model, in.setup.lora);
  const StepContext ctx{est.inputs.model, est.params, est.inputs.setup, est.inputs.layout};
  const ModelStates full = model_states(est.params, ctx.setup);
  const RankStates rank = policy->rank_states(ctx, full);
  est.activations = activations(ctx.model, ctx.setup);
  const LogitsLoss loss = logits_loss(ctx.model, ctx.setup);
  const Term cublas = cublas_workspace(in.gpu);
  est.load = policy->load(ctx, in.load);
  est.host = policy->host(ctx, full);

  est.timeline = build_timeline(ctx, *policy, {full, rank, est.activations, loss, cublas, est.load});
  est.phases = phases_of(est.timeline);
  est.peak_phase = peak_index(est.phases);
  add_components(est, allocated_terms(rank.states, rank, est.activations, loss, cublas), full.master_weights.bytes > 0);
  add_totals(est, cuda_context(in.gpu, in.cuda_context_bytes), nccl_buffers(in.layout));
  add_capacity(est);
  if (in.with_advice) add_advice(est);
  return est;
}

}  // namespace vramcalc
