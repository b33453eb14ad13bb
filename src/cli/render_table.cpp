// The default human output: one row per component with its bytes in each phase, its size at
// the peak, share and bar; then the peak, the verdict, and how each term is computed.
#include <ostream>

#include <fmt/format.h>

#include "cli/render.hpp"
#include <vramcalc/mxfp4.hpp>
#include "cli/terminal.hpp"

namespace vramcalc::cli {
namespace {


std::string phase_title(const std::string& name) { return name == "optimizer_step" ? "step" : name; }

}  // namespace

void render_table(std::ostream& out, const Estimate& est, const OutputOptions& view) {
  const bool c = view.color;
  const SizeUnits u = view.units;
  const char* unit = unit_label(u);
  const ModelConfig& m = est.inputs.model;
  out << style_bold(fmt::format("{} — {} parameters", m.name, group_digits(est.params.total)), c) << "\n";
  const std::string layers = m.encoder_decoder() ? fmt::format("{} encoder + {} decoder", m.num_layers, m.num_decoder_layers)
                                                 : fmt::format("{}", m.num_layers);
  out << fmt::format("{}: {} layers, hidden {}, {} heads / {} KV heads × {}, MLP {}, vocab {}{}\n", family_name(m.family),
                     layers, m.hidden_size, m.num_heads, m.num_kv_heads, m.head_dim, m.intermediate_size,
                     group_digits(m.vocab_size), m.output_tied() ? ", tied embeddings" : "");
  if (m.num_experts > 0) {
    out << fmt::format("MoE: {} experts × MLP {}, top-{}{}; {} parameters active per token ({} in routed experts)\n", m.num_experts,
                       m.moe_intermediate_size, m.experts_per_token,
                       m.shared_expert_intermediate_size > 0 ? fmt::format(", shared expert MLP {}", m.shared_expert_intermediate_size) : "",
                       group_digits(est.params.active_per_token), group_digits(est.params.routed_experts));
  }
  if (m.kv_lora_rank > 0) {  // DeepSeek multi-head latent attention (head_dim above is d_nope + d_rope)
    out << fmt::format("MLA: {}, kv latent {}, head dims nope {} + rope {}, v {}{}\n",
                       m.q_lora_rank > 0 ? fmt::format("q latent {}", m.q_lora_rank) : std::string("q_proj (no q latent)"), m.kv_lora_rank,
                       m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim,
                       m.first_k_dense_replace > 0 ? fmt::format("; dense MLP in the first {} layer(s)", m.first_k_dense_replace) : "");
  }
  if (m.head == ModelHead::kSeqCls) {
    out << fmt::format("head: sequence classification, {} labels on the first token (no lm_head)\n", m.num_labels);
  }
  out << describe_setup(est) << "\n";
  if (const std::string lora = describe_lora(est); !lora.empty()) out << lora << "\n";
  const std::string layout = describe_layout(est);
  if (!layout.empty()) out << "layout: " << layout << "\n";
  const std::string recipe = describe_recipe(est);
  if (!recipe.empty()) out << "recipe: " << recipe << "\n";
  out << "\n";

  const auto rows = component_rows(est);
  const std::size_t peak = est.peak_phase;
  std::string header = fmt::format("{:<22}", "component");
  for (std::size_t i = 0; i < est.phases.size(); ++i) {
    std::string title = phase_title(std::string(est.phases[i].name())) + (i == peak ? "*" : "");
    header += fmt::format(" {:>10}", title);
  }
  header += fmt::format("  {:>10}  {:>6}", fmt::format("peak {}", unit), "share");
  out << style_bold(header, c) << "\n";
  const double total = static_cast<double>(est.device_total);
  for (const auto& r : rows) {
    std::string line = fmt::format("{:<22}", r.name);
    for (std::size_t i = 0; i < est.phases.size(); ++i) {
      line += r.per_phase.empty() ? fmt::format(" {:>10}", "") : fmt::format(" {:>10.2f}", to_unit(r.per_phase[i], u));
    }
    const double share = total > 0 ? static_cast<double>(r.at_peak) / total : 0.0;
    line += fmt::format("  {:>10.2f}  {:>5.1f}%  {}", to_unit(r.at_peak, u), share * 100.0, bar(share, 20, view.unicode));
    out << line << "\n";
  }
  std::string alloc_line = fmt::format("{:<22}", "allocated (PyTorch)");
  for (const auto& ph : est.phases) alloc_line += fmt::format(" {:>10.2f}", to_unit(ph.allocated, u));
  alloc_line += fmt::format("  {:>10.2f}", to_unit(est.peak_allocated, u));
  out << style_bold(alloc_line, c) << "\n";
  out << fmt::format("{:<22} {:>{}}  {:>10.2f}\n", "on the device", "", est.phases.size() * 11 - 1, to_unit(est.device_total, u));
  for (const auto& ph : est.phases) {
    out << style_dim(fmt::format("  {:<16} measured at: {}", phase_title(std::string(ph.name())), ph.point), c) << "\n";
  }
  out << "\n";

  const Phase& p = est.phases[peak];
  out << style_bold(fmt::format("peak: {} ({})", p.name(), p.point), c) << "\n";
  out << fmt::format("  allocated {}  (torch.cuda.max_memory_allocated)\n", format_size(est.peak_allocated, u));
  out << fmt::format("  reserved  {}  (max_memory_reserved: + allocator reserve)\n", format_size(est.peak_reserved, u));
  out << fmt::format("  device    {}  (nvidia-smi: + CUDA context, non-PyTorch)\n", format_size(est.device_total, u));
  if (const Component* paged = est.find(ComponentId::kPagedOptimizerStates)) {
    out << fmt::format("  of which {} paged optimizer states: in device (nvidia-smi, mem_get_info), not in allocated or reserved\n",
                       format_size(paged->size_bytes, u));
  }
  const std::string v = verdict(est, u);
  if (!v.empty()) out << (est.gpu_fits() ? style_green(v, c) : style_red(v, c)) << "\n";
  if (est.load_sets_peak()) {
    out << style_red("loading the model, not training, sets the GPU peak", c) << "\n";
  }
  render_roles(out, est, view);
  const bool show_host = est.inputs.layout.gpus > 1 || est.inputs.layout.zero.stage > 0 || est.cpu_capacity || est.host.offloaded_activations.bytes > 0;
  if (show_host) {
    out << fmt::format("host RAM per node: {} while loading ({} per rank), {} during training", format_size(est.load.cpu_per_node, u),
                       format_size(est.load.cpu_per_rank, u), format_size(est.host.ram_per_node, u));
    if (est.host.pinned_per_node > 0) out << fmt::format(" ({} pinned)", format_size(est.host.pinned_per_node, u));
    if (est.host.nvme.bytes > 0) out << fmt::format("; NVMe {} per rank", format_size(est.host.nvme.bytes, u));
    out << "\n";
    const std::string cv = cpu_verdict(est, u);
    if (!cv.empty()) out << (est.cpu_fits() ? style_green(cv, c) : style_red(cv, c)) << "\n";
  }
  if (!est.advice.empty()) {
    out << "\n" << style_bold("to lower the peak (each re-estimated with the one change)", c) << "\n";
    for (const auto& a : est.advice) {
      out << fmt::format("  {:<62} {:>9} → {:>9}  ({})\n", advice_action(a), format_size(a.peak_before, u), format_size(a.peak_after, u), a.why);
    }
  }
  out << "\n";

  out << style_bold("how each term is computed", c) << style_dim("  (* estimated: derived from code or empirical)", c) << "\n";
  for (const auto& r : rows) {
    out << fmt::format("  {:<21}{} {}\n", r.name, r.estimated ? "*" : " ", r.formula);
    if (view.explain && !r.source.empty()) out << style_dim(fmt::format("  {:<22} source: {}", "", r.source), c) << "\n";
  }
  const Activations& a = est.activations;
  const char* layer = est.inputs.model.encoder_decoder() ? "encoder block" : "decoder layer";  // T5: the decoder's block is listed below
  if (!est.inputs.setup.infer) out << fmt::format("  {:<22} one {} saves {}; each layer keeps {} ({} checkpointing)\n", "", layer,
                     format_size(a.per_layer, u), format_size(a.kept_per_layer, u), to_string(est.inputs.setup.grad_ckpt));
  if (view.explain) {
    out << "\n" << style_bold(fmt::format("one {}, saved for backward (no checkpointing)", layer), c) << "\n";
    for (const auto& t : a.layer_parts) {
      out << fmt::format("  {:<32} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
      // Models with dense and MoE layers (DeepSeek MLA + shared experts) list each term's source as well.
      if (a.dense_layers > 0) out << style_dim(fmt::format("  {:<49} source: {}", "", t.source), c) << "\n";
    }
    if (a.dense_layers > 0) {
      out << style_bold(fmt::format("the first {} layer(s): a dense MLP instead of the MoE block ({} B per layer)", a.dense_layers,
                                    group_digits(a.dense_per_layer)), c) << "\n";
      for (const auto& t : a.dense_layer_parts) {
        out << fmt::format("  {:<32} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
        out << style_dim(fmt::format("  {:<49} source: {}", "", t.source), c) << "\n";
      }
    }
    if (a.decoder_layers > 0) {  // encoder-decoders (T5): the list above is an encoder block
      out << style_bold(fmt::format("one decoder block of the encoder-decoder ({} blocks, {} B each; the list above is an encoder block)",
                                    a.decoder_layers, group_digits(a.decoder_per_layer)), c) << "\n";
      for (const auto& t : a.decoder_layer_parts) {
        out << fmt::format("  {:<32} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
        out << style_dim(fmt::format("  {:<49} source: {}", "", t.source), c) << "\n";
      }
    }
    out << style_bold("outside the decoder layers", c) << "\n";
    for (const auto& t : a.outside_parts) {
      out << fmt::format("  {:<32} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
    }
    out << style_bold("loading (from_pretrained, deepspeed.initialize)", c) << "\n";
    for (const auto& t : est.load.cpu_terms) out << fmt::format("  host {:<27} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
    for (const auto& t : est.load.gpu_terms) out << fmt::format("  GPU  {:<27} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
    if (m.mxfp4_experts) {  // gpt-oss MXFP4 checkpoint: what the experts occupy on disk, and that training dequantizes
      const Term t = mxfp4_experts_term(m);
      out << fmt::format("  disk {:<27} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
      out << style_dim(fmt::format("  {:<32} source: {}", "", t.source), c) << "\n";
    }
    for (const Term* t : {&est.host.offloaded_optimizer, &est.host.offloaded_params, &est.host.nvme, &est.host.offloaded_activations}) {
      if (t->bytes > 0) out << fmt::format("  {:<32} {:>14} B  {}\n", t->name, group_digits(t->bytes), t->formula);
    }
    render_offload_explain(out, est, c);
    render_kept_explain(out, est, c);
    out << "\n";
    render_recipe_explain(out, est, c);
    out << style_bold("phases", c) << "\n";
    for (const auto& ph : est.phases) {
      out << fmt::format("  {:<15} {:>10}  at {}\n", ph.name(), format_size(ph.allocated, u), ph.point);
      for (const auto& e : ph.entries) {
        out << fmt::format("      {:<22} {:>10}{}\n", name_of(e.id), format_size(e.bytes, u), e.note.empty() ? "" : "  " + e.note);
      }
    }
  } else {
    out << style_dim("  (--explain adds sources, the per-layer derivation and each phase's contents)", c) << "\n";
  }
}

}  // namespace vramcalc::cli
