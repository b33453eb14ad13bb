// JSON: the scripting interface (docs/json.md). Integer bytes, fixed key order, schema_version.
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/render.hpp"
#include <vramcalc/mxfp4.hpp>
#include <vramcalc/vramcalc.hpp>

namespace vramcalc::cli {
namespace {

using ojson = nlohmann::ordered_json;

constexpr int kSchemaVersion = 1;

ojson term_json(const Term& t) {
  return ojson{{"name", t.name}, {"bytes", t.bytes}, {"formula", t.formula}, {"source", t.source}, {"estimated", t.estimated}};
}

// The LoRA inputs (only present when LoRA is on).
ojson lora_json(const LoraSetup& l) {
  return ojson{{"rank", l.rank},     {"targets", lora_targets_or_default(l)}, {"dropout", l.dropout}, {"adapter_dtype_bytes", l.adapter_bytes},
               {"base_quant", to_string(l.base_quant)}, {"kbit_upcast", l.base_quant != BaseQuant::kNone && l.kbit_upcast}, {"dora", l.dora}};
}

}  // namespace

void render_json(std::ostream& out, const Estimate& est) {
  const ModelConfig& m = est.inputs.model;
  const TrainingSetup& s = est.inputs.setup;
  ojson j;
  j["schema_version"] = kSchemaVersion;
  j["vramcalc_version"] = version();
  j["model"] = {{"name", m.name},
                {"source", m.source},
                {"model_type", family_name(m.family)},
                {"parameters", est.params.total},
                {"num_layers", m.num_layers},
                {"hidden_size", m.hidden_size},
                {"num_heads", m.num_heads},
                {"num_kv_heads", m.num_kv_heads},
                {"head_dim", m.head_dim},
                {"intermediate_size", m.intermediate_size},
                {"vocab_size", m.vocab_size},
                {"tie_word_embeddings", m.tie_word_embeddings}};
  if (m.num_experts > 0) {  // mixtures of experts only (dense output unchanged)
    j["model"]["active_parameters"] = est.params.active_per_token;
    j["model"]["routed_expert_parameters"] = est.params.routed_experts;
    j["model"]["num_experts"] = m.num_experts;
    j["model"]["experts_per_token"] = m.experts_per_token;
    j["model"]["moe_intermediate_size"] = m.moe_intermediate_size;
    j["model"]["shared_expert_intermediate_size"] = m.shared_expert_intermediate_size;
  }
  if (m.mxfp4_experts) {  // gpt-oss MXFP4 checkpoints (storage only: training dequantizes)
    j["model"]["mxfp4_expert_bytes"] = mxfp4_expert_bytes(m);
    j["model"]["checkpoint_bytes"] = mxfp4_checkpoint_bytes(m);
  }
  if (m.head == ModelHead::kSeqCls) {  // classification head only (LM output unchanged)
    j["model"]["head"] = to_string(m.head);
    j["model"]["num_labels"] = m.num_labels;
  }
  j["inputs"] = {{"seq_len", s.seq_len},
                 {"micro_batch", s.micro_batch},
                 {"grad_accum", s.grad_accum},
                 {"precision", to_string(s.precision)},
                 {"optimizer", to_string(s.optimizer)},
                 {"attention", to_string(s.attention)},
                 {"grad_ckpt", to_string(s.grad_ckpt)},
                 {"loss", to_string(s.loss)},
                 {"loss_chunks", s.loss_chunks},
                 {"fragmentation", s.fragmentation},
                 {"gpus", est.inputs.layout.gpus},
                 {"kernels", {{"set", describe(s.kernels)},
                              {"fused_norm", s.kernels.fused_norm},
                              {"fused_rope", s.kernels.fused_rope},
                              {"fused_swiglu", s.kernels.fused_swiglu}}},
                 {"ac_every", s.ac_every}};
  if (s.optimizer_in_backward) j["inputs"]["optimizer_in_backward"] = true;
  if (s.offload_activations) j["inputs"]["offload_activations"] = true;
  if (s.compile != Compile::kNone) j["inputs"]["compile"] = to_string(s.compile);
  if (s.fp8 != Fp8Recipe::kNone) j["inputs"]["fp8"] = to_string(s.fp8);
  if (est.inputs.layout.fsdp.fp8_all_gather) j["inputs"]["fp8_all_gather"] = true;
  if (s.fp8_te) j["inputs"]["fp8_backend"] = "transformer_engine";
  if (s.fp8_te && s.fp8 == Fp8Recipe::kDelayed) j["inputs"]["fp8_amax_history_len"] = s.fp8_amax_history;
  if (s.fp8_param_gather) j["inputs"]["fp8_param_gather"] = true;
  if (s.infer) {
    j["inputs"]["infer"] = true;
    j["inputs"]["kv_bytes_per_element"] = s.kv_bytes != 0 ? s.kv_bytes : precision_bytes(s.precision).weight;
  }
  if (s.lora.enabled()) {
    j["model"]["trainable_parameters"] = est.params.trainable;
    j["inputs"]["lora"] = lora_json(s.lora);
  }
  const ParallelLayout& l = est.inputs.layout;
  const ZeroSettings& z = l.zero;
  j["layout"] = {{"zero", z.stage},
                 {"gpus", l.gpus},
                 {"gpus_per_node", l.gpus_per_node},
                 {"nodes", l.nodes()},
                 {"offload_optimizer", to_string(z.offload_optimizer.device)},
                 {"offload_params", to_string(z.offload_param.device)},
                 {"zero_init", z.stage == 3 && z.zero3_init},
                 {"interconnect", to_string(l.interconnect)},
                 {"reduce_bucket_size", z.reduce_bucket_size},
                 {"stage3_prefetch_bucket_size", z.stage3_prefetch_bucket_size},
                 {"stage3_param_persistence_threshold", z.stage3_param_persistence_threshold},
                 {"overlap_comm", z.overlap_comm},
                 {"contiguous_gradients", z.contiguous_gradients}};
  if (l.fsdp.version != 0) {
    const FsdpSettings& f = l.fsdp;
    auto dtype = [](const std::optional<Bytes>& b) -> ojson { return b ? ojson(*b == 2 ? "bf16" : "fp32") : ojson(nullptr); };
    j["layout"]["fsdp"] = {{"version", f.version},
                           {"reshard_after_forward", f.reshard_after_forward},
                           {"param_dtype", dtype(f.param_dtype_bytes)},
                           {"reduce_dtype", dtype(f.reduce_dtype_bytes)}};
    if (f.replicate > 1) j["layout"]["fsdp"]["replicate"] = f.replicate;
    if (f.cpu_offload) j["layout"]["fsdp"]["cpu_offload"] = true;
    if (!f.wrap_blocks) j["layout"]["fsdp"]["auto_wrap"] = "none";
  }
  j["recipe"] = recipe_json(est);
  ojson components = ojson::array();
  for (const auto& c : est.components) {
    ojson cj = term_json(c.term);
    cj["kind"] = to_string(c.kind);
    cj["max_bytes"] = c.max_bytes;
    cj["size_bytes"] = c.size_bytes;
    if (c.id == ComponentId::kPagedOptimizerStates) {
      // CUDA managed memory: which of the reported metrics count it.
      cj["in_metrics"] = {{"allocated_bytes", false}, {"reserved_bytes", false}, {"device_bytes", true}};
    }
    if (c.id == ComponentId::kActivations) {
      const Activations& a = est.activations;
      cj["per_layer_bytes"] = a.per_layer;
      cj["kept_per_layer_bytes"] = a.kept_per_layer;
      cj["outside_layers_bytes"] = a.outside;
      ojson parts = ojson::array();
      for (const auto& t : a.layer_parts) parts.push_back(term_json(t));
      cj["per_layer_parts"] = parts;
      ojson outside = ojson::array();
      for (const auto& t : a.outside_parts) outside.push_back(term_json(t));
      cj["outside_layers_parts"] = outside;
      if (a.dense_layers > 0) {  // DeepSeek first_k_dense_replace: these layers save a dense MLP
        cj["dense_layers"] = a.dense_layers;
        cj["dense_per_layer_bytes"] = a.dense_per_layer;
        ojson dense = ojson::array();
        for (const auto& t : a.dense_layer_parts) dense.push_back(term_json(t));
        cj["dense_layer_parts"] = dense;
      }
      if (!a.kept_parts.empty()) {  // op-level SAC under compile: what each layer keeps, itemised
        ojson kept = ojson::array();
        for (const auto& t : a.kept_parts) kept.push_back(term_json(t));
        cj["kept_per_layer_parts"] = kept;
      }
      if (a.decoder_layers > 0) {  // encoder-decoders (T5): per_layer_* are an encoder block's, these a decoder block's
        cj["decoder_layers"] = a.decoder_layers;
        cj["decoder_per_layer_bytes"] = a.decoder_per_layer;
        ojson dec = ojson::array();
        for (const auto& t : a.decoder_layer_parts) dec.push_back(term_json(t));
        cj["decoder_layer_parts"] = dec;
      }
    }
    components.push_back(cj);
  }
  j["components"] = components;
  ojson phases = ojson::array();
  for (const auto& ph : est.phases) {
    ojson entries = ojson::array();
    for (const auto& e : ph.entries) {
      ojson ej{{"name", name_of(e.id)}, {"bytes", e.bytes}};
      if (!e.note.empty()) ej["note"] = e.note;
      entries.push_back(ej);
    }
    phases.push_back({{"name", ph.name()}, {"point", ph.point}, {"allocated_bytes", ph.allocated}, {"components", entries}});
  }
  j["phases"] = phases;
  const Phase& p = est.phases[est.peak_phase];
  j["peak"] = {{"phase", p.name()},
               {"point", p.point},
               {"allocated_bytes", est.peak_allocated},
               {"reserved_bytes", est.peak_reserved},
               {"non_pytorch_bytes", est.non_pytorch},
               {"device_bytes", est.device_total}};
  j["load_sets_peak"] = est.load_sets_peak();
  ojson load_cpu = ojson::array();
  for (const auto& t : est.load.cpu_terms) load_cpu.push_back(term_json(t));
  ojson host_terms = ojson::array();
  for (const Term* t : {&est.host.offloaded_optimizer, &est.host.offloaded_params, &est.host.nvme, &est.host.offloaded_activations}) {
    if (t->bytes > 0) host_terms.push_back(term_json(*t));
  }
  j["cpu"] = {{"load_bytes_per_rank", est.load.cpu_per_rank},
              {"load_bytes_per_node", est.load.cpu_per_node},
              {"training_ram_bytes_per_rank", est.host.ram_per_rank},
              {"training_ram_bytes_per_node", est.host.ram_per_node},
              {"peak_ram_bytes_per_node", est.cpu_peak_per_node},
              {"pinned_bytes_per_node", est.host.pinned_per_node},
              {"nvme_bytes", est.host.nvme.bytes},
              {"load_terms", load_cpu},
              {"training_terms", host_terms},
              {"capacity_bytes", est.cpu_capacity ? ojson(*est.cpu_capacity) : ojson(nullptr)},
              {"fits", est.cpu_fits()}};
  if (est.activations.offload.enabled) j["activation_offload"] = offload_json(est);
  ojson advice = ojson::array();
  for (const auto& a : est.advice) {
    advice.push_back({{"action", advice_action(a)},
                      {"change", {{"flag", flag_for(a.change.field)}, {"value", a.change.value}}},
                      {"why", a.why},
                      {"device_bytes_before", a.peak_before},
                      {"device_bytes_after", a.peak_after},
                      {"saving_bytes", a.peak_before - a.peak_after}});
  }
  j["advice"] = advice;
  if (l.megatron != MegatronOptimizer::kNone) j["layout"]["megatron_optimizer"] = to_string(l.megatron);
  if (l.tp_comm_overlap) j["layout"]["tp_comm_overlap"] = true;
  if (l.has_model_parallel()) {
    j["layout"]["tp"] = l.tp;
    j["layout"]["sp"] = l.sp;
    j["layout"]["cp"] = l.cp;
    j["layout"]["pp"] = l.pp;
    j["layout"]["pp_schedule"] = to_string(l.pp_schedule);
    j["layout"]["microbatches"] = l.pp > 1 ? l.microbatches : 0;
    j["layout"]["virtual_stages"] = l.virtual_stages;
    j["layout"]["data_parallel"] = l.data_parallel();
    j["rank_roles"] = ojson::parse(roles_json(est));
  }
  if (l.ep > 1) {
    j["layout"]["ep"] = l.ep;
    if (!l.has_model_parallel()) j["rank_roles"] = ojson::parse(roles_json(est));
  }
  if (est.capacity) {
    ojson g{{"name", capacity_name(est)}, {"capacity_bytes", *est.capacity}, {"fits", est.gpu_fits()}};
    // Exact: the CLI keeps budgets at most 1 PiB and device totals below 2^63.
    g["margin_bytes"] = est.gpu_fits() ? static_cast<std::int64_t>(*est.capacity - est.device_total)
                                       : -static_cast<std::int64_t>(est.device_total - *est.capacity);
    j["gpu"] = g;
  } else {
    j["gpu"] = nullptr;
  }
  out << j.dump(2) << "\n";
}

}  // namespace vramcalc::cli
