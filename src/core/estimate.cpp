// The estimate: validates the inputs, asks the layout policy and the model's parts for their
// terms, builds the step's timeline, and derives the phases, the peak, the components and the
// verdict from it.
#include <vramcalc/estimate.hpp>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/overhead.hpp>
#include <vramcalc/vramcalc.hpp>

#include "core/advice.hpp"
#include "core/ops_fused.hpp"
#include "core/ops_compiled.hpp"
#include "core/ops_fp8.hpp"
#include "core/te_fp8.hpp"
#include "core/inference.hpp"
#include "core/optimizer_checks.hpp"
#include "core/lora_activations.hpp"
#include "core/model_parallel.hpp"
#include "core/ops_attention_backends.hpp"
#include "core/expert_parallel.hpp"
#include "core/step.hpp"
#include "core/activation_offload.hpp"
#include "core/encoder_decoder.hpp"

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
  validate_encoder_decoder(in);
  const TrainingSetup& setup = in.setup;
  require_positive(setup.seq_len, field::kSeqLen);
  require_positive(setup.micro_batch, field::kMicroBatch);
  require_positive(setup.grad_accum, field::kGradAccum);
  require_positive(setup.loss_chunks, field::kLossChunks);
  if (!(setup.fragmentation >= 0.0 && setup.fragmentation <= 1.0)) {
    throw InputError(field::kFragmentation, fmt::format("{}", setup.fragmentation), "must be between 0 and 1");
  }
  if (!(setup.hidden_dropout >= 0.0 && setup.hidden_dropout < 1.0)) {
    throw InputError(field::kHiddenDropout, fmt::format("{}", setup.hidden_dropout), "must be a probability in [0, 1)");
  }
  (void)checked_product({setup.seq_len, setup.micro_batch, setup.seq_len, in.model.num_heads, 16});
  validate_kernels(in.model, setup);
  validate_compile(in.model, setup);
  require_positive(setup.ac_every, field::kAcEvery);
  if (setup.ac_every > 1 && setup.grad_ckpt != GradCkpt::kFull) {
    throw InputError(field::kAcEvery, fmt::format("{}", setup.ac_every), "checkpointing every K-th layer needs full checkpointing");
  }
  if (setup.ac_every > in.model.num_layers) {
    throw InputError(field::kAcEvery, fmt::format("{}", setup.ac_every),
                     fmt::format("larger than the model's {} layers: no layer would be checkpointed", in.model.num_layers));
  }
  (void)checked_product({setup.seq_len, setup.micro_batch, in.model.vocab_size, 16});
  validate_optimizer(in);
  validate_moe_routing(in);
  if (setup.grad_ckpt == GradCkpt::kOpSac && in.model.num_experts > 0) {
    // torchtitan's op-level policy keeps mm outputs; what it keeps of grouped expert matmuls is not modelled.
    throw InputError(field::kGradCkpt, "op-sac", "not modelled for mixtures of experts; use none, full or selective");
  }
  validate_inference(in);
  validate_activation_offload(in);
  if (!setup.lora.enabled() && setup.lora.base_quant != BaseQuant::kNone) {
    throw InputError(field::kBaseQuant, to_string(setup.lora.base_quant), "a quantized base trains only adapters: give a LoRA rank");
  }
  validate_lora(in.model, setup, in.layout.fsdp.version != 0 || in.layout.has_model_parallel() || in.layout.megatron != MegatronOptimizer::kNone);
  if (setup.lora.base_quant == BaseQuant::kInt8 && in.layout.zero.stage == 3) {
    // Int8Params keep SCB beside the int8 CB and MatMul8bitLt reads state.CB of the whole weight:
    // how ZeRO-3 partitions and gathers them is not modelled (4-bit bases are, with quant_storage).
    throw InputError(field::kBaseQuant, "int8", "an int8 base under ZeRO-3 is not modelled; use nf4/fp4 or ZeRO 0-2");
  }
  validate_model_head(in);
  validate_fp8(in);
  validate_fp8_all_gather(in);
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
  if (act.offload.enabled) terms.push_back(act.offload.in_flight);
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

// The layout's stream pools beyond what of them is allocated at the peak (reserved only).
Term stream_pools_term(const Phase& peak, const std::vector<StreamPool>& pools) {
  Term t = component_term(ComponentId::kStreamPools, 0, "", "", true);
  for (const StreamPool& p : pools) {
    const Bytes live = peak.bytes_of(p.holds);
    const Bytes extra = p.high_water.bytes > live ? p.high_water.bytes - live : 0;
    t.bytes = checked_add(t.bytes, extra);
    const std::string part = fmt::format("{} − {} allocated at the peak", p.high_water.formula, group_digits(live));
    t.formula += (t.formula.empty() ? "" : "; ") + part;
    t.source += (t.source.empty() ? "" : "; ") + p.high_water.source;
  }
  return t;
}

// What the loss window's hole adds to reserved memory beyond the allocated peak: the pool's
// high-water mark at the loss backward is what is allocated there plus the hole.
Term loss_window_term(const Estimate& est, const Term& hole) {
  Term t = hole;
  if (hole.bytes == 0) return t;
  Bytes at_loss = 0;
  for (const Moment& m : est.timeline) {
    if (m.instant == Instant::kBackwardLoss) at_loss = m.total();
  }
  const Bytes high_water = checked_add(at_loss, hole.bytes);
  t.bytes = high_water > est.peak_allocated ? high_water - est.peak_allocated : 0;
  t.formula = fmt::format("{} allocated at the loss backward + {} hole − {} allocated peak; hole = {}", group_digits(at_loss),
                          group_digits(hole.bytes), group_digits(est.peak_allocated), hole.formula);
  return t;
}

// The reserve on top of the allocated peak, and non-PyTorch memory (paged optimizer states
// live in CUDA managed memory, which the driver counts and PyTorch's allocator does not).
void add_totals(Estimate& est, const Term& context, const Term& nccl, const Term& paged, const std::vector<StreamPool>& pools = {},
                const Term& loss_hole = {}) {
  est.peak_allocated = est.phases[est.peak_phase].allocated;
  const Term reserve = allocator_reserve(est.peak_allocated, est.inputs.setup.fragmentation);
  const Term streams = stream_pools_term(est.phases[est.peak_phase], pools);
  const Term hole = loss_window_term(est, loss_hole);
  est.peak_reserved = checked_add(checked_add(checked_add(est.peak_allocated, reserve.bytes), streams.bytes), hole.bytes);
  est.non_pytorch = checked_add(checked_add(context.bytes, nccl.bytes), paged.bytes);
  est.device_total = checked_add(est.peak_reserved, est.non_pytorch);
  est.components.push_back({ComponentId::kAllocatorReserve, reserve, reserve.bytes, reserve.bytes, TermKind::kReserve});
  if (!pools.empty()) est.components.push_back({ComponentId::kStreamPools, streams, streams.bytes, streams.bytes, TermKind::kReserve});
  if (hole.bytes > 0) est.components.push_back({ComponentId::kLossWindowHole, hole, hole.bytes, hole.bytes, TermKind::kReserve});
  est.components.push_back({ComponentId::kCudaContext, context, context.bytes, context.bytes, TermKind::kNonPytorch});
  if (nccl.bytes > 0) est.components.push_back({ComponentId::kNcclBuffers, nccl, nccl.bytes, nccl.bytes, TermKind::kNonPytorch});
  if (paged.bytes > 0) {
    est.components.push_back({ComponentId::kPagedOptimizerStates, paged, paged.bytes, paged.bytes, TermKind::kNonPytorch});
  }
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

// --infer: weights, KV cache, prefill and decode instead of a training step.
Estimate& estimate_inference(Estimate& est) {
  const Term cublas = cublas_workspace(est.inputs.gpu);
  const Inference inf = inference(est.inputs.model, est.params, est.inputs.setup, cublas);
  est.timeline = inf.timeline;
  est.phases = phases_of(est.timeline);
  est.peak_phase = peak_index(est.phases);
  add_components(est, inf.terms, false);
  add_totals(est, cuda_context(est.inputs.gpu, est.inputs.cuda_context_bytes), Term{}, Term{});
  add_capacity(est);
  return est;
}

Estimate estimate_rank(const EstimateInputs& in, const RankView* view) {
  const auto policy = make_policy(view ? view->layout : in.layout);
  Estimate est;
  est.inputs = in;
  est.params = count_parameters(in.model, in.setup.lora);
  if (in.setup.infer) return estimate_inference(est);
  const ParameterCounts rank_params = view ? rank_parameters(*view) : est.params;
  const StepContext ctx{view ? view->model : est.inputs.model, rank_params, view ? view->setup : est.inputs.setup,
                        view ? view->layout : est.inputs.layout};
  const ModelStates full = model_states(rank_params, ctx.setup);
  const bool ep = view && in.layout.ep > 1;
  RankStates rank = ep ? expert_parallel_states(*policy, ctx, full, *view) : policy->rank_states(ctx, full);
  te_fp8_param_gather(ctx, rank.states);  // --fp8-param-gather: the Linear weights stored in fp8
  const TrainingSetup compute = policy->compute_setup(ctx.setup);  // FSDP's param_dtype casts the compute
  est.activations = view ? rank_activations(*view) : activations(ctx.model, compute);
  est.activations.stack.source += sdpa_kernel_note(ctx.model, compute, in.gpu);
  const LogitsLoss loss = view ? rank_loss(*view) : logits_loss(ctx.model, compute);
  const ModelParallelTerms mp = view ? model_parallel_terms(*view, loss) : ModelParallelTerms{};
  const Term cublas = with_te_cublas_workspace(cublas_workspace(in.gpu), in.gpu, in.layout);
  est.load = policy->load(ctx, in.load);
  est.host = policy->host(ctx, full);
  add_offload_host(est.activations.offload, std::min(ctx.layout.gpus_per_node, ctx.layout.gpus), est.host);

  est.timeline = build_timeline(ctx, *policy, {full, rank, est.activations, loss, cublas, est.load, view ? &mp : nullptr});
  est.phases = phases_of(est.timeline);
  est.peak_phase = peak_index(est.phases);
  std::vector<Term> terms = allocated_terms(rank.states, rank, est.activations, loss, cublas);
  if (view) terms.insert(terms.end(), {mp.sp_gather, mp.cp_kv, mp.pp_recv});
  if (ep) terms.push_back(mp.ep_a2a);
  if (ctx.setup.fp8 != Fp8Recipe::kNone && !ctx.setup.fp8_te) terms.push_back(fp8_term(ctx, compute, loss));
  for (const Term& t : te_fp8_terms(ctx)) terms.push_back(t);
  add_components(est, terms, full.master_weights.bytes > 0);
  add_totals(est, cuda_context(in.gpu, in.cuda_context_bytes), nccl_buffers(in.layout), rank.states.paged_states,
             policy->stream_pools(ctx, rank), loss.hole);
  add_capacity(est);
  return est;
}

RoleResult role_result(const Estimate& e, const RankRole& role, std::uint64_t parameters) {
  const Phase& p = e.phases[e.peak_phase];
  RoleResult r{role, parameters, std::string(p.name()), p.point, e.peak_allocated, e.peak_reserved, e.device_total, {}};
  for (const auto& entry : p.entries) r.components.emplace_back(entry.id, entry.bytes);
  return r;
}

// The view's layout counts only the data-parallel group; a node hosts min(gpus_per_node,
// gpus) ranks of the whole job, each with its host RAM.
void rescale_host_per_node(Estimate& est, const ParallelLayout& job, const ParallelLayout& group) {
  const std::uint64_t job_ranks = std::min(job.gpus_per_node, job.gpus);
  const std::uint64_t group_ranks = std::min(group.gpus_per_node, group.gpus);
  est.load.cpu_per_node = checked_mul(est.load.cpu_per_rank, job_ranks);
  est.host.ram_per_node = checked_mul(est.host.ram_per_rank, job_ranks);
  est.host.pinned_per_node = checked_mul(est.host.pinned_per_node / group_ranks, job_ranks);
  est.cpu_peak_per_node = std::max(est.load.cpu_per_node, est.host.ram_per_node);
}

// Every distinct role's rank, estimated on its own; the most loaded one (largest device
// total; the first on a tie) is the estimate, with every role's result beside it.
Estimate estimate_model_parallel(const EstimateInputs& in) {
  validate_layout(in.layout);
  validate_model_parallel(in);
  std::optional<Estimate> peak;
  std::vector<RoleResult> results;
  std::size_t peak_role = 0;
  for (const auto& role : rank_roles(in.model, in.layout, pipeline_microbatches(in.setup, in.layout))) {
    const RankView view = rank_view(in, role);
    Estimate e = estimate_rank(in, &view);
    rescale_host_per_node(e, in.layout, view.layout);
    results.push_back(role_result(e, role, rank_parameters(view).total));
    if (!peak || e.device_total > peak->device_total) {
      peak = std::move(e);
      peak_role = results.size() - 1;
    }
  }
  peak->roles = std::move(results);
  peak->peak_role = peak_role;
  return std::move(*peak);
}

}  // namespace

Estimate estimate(const EstimateInputs& given) {
  validate(given);
  EstimateInputs in = given;
  in.setup.fp8_te = te_fp8(in.setup, in.layout);  // --fp8 under Megatron's layout: Transformer Engine (te_fp8.cpp)
  Estimate est = in.layout.has_model_parallel() || in.layout.ep > 1 ? estimate_model_parallel(in) : estimate_rank(in, nullptr);
  if (in.with_advice) add_advice(est);
  return est;
}

}  // namespace vramcalc
