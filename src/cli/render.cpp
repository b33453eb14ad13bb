#include "cli/render.hpp"

#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vramcalc/deepspeed.hpp>

namespace vramcalc::cli {

std::string capacity_name(const Estimate& est) {
  return est.capacity_label.empty() ? flag_for(field::kMemoryBudget) : est.capacity_label;
}

std::vector<ComponentRow> component_rows(const Estimate& est) {
  std::vector<ComponentRow> rows;
  for (const auto& c : est.components) {
    ComponentRow row{std::string(name_of(c.id)), to_string(c.kind), c.term.bytes, {}, c.term.formula, c.term.source, c.term.estimated};
    if (c.kind == TermKind::kAllocated) {
      for (const auto& phase : est.phases) row.per_phase.push_back(phase.bytes_of(c.id));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string bar(double share, int width, bool unicode) {
  const int filled = static_cast<int>(share * width + 0.5);
  std::string out;
  for (int i = 0; i < width; ++i) out += i < filled ? (unicode ? "█" : "#") : (unicode ? "·" : ".");
  return out;
}

std::string advice_action(const Advice& a) {
  const std::string flag = flag_for(a.change.field);
  const std::string flags = a.change.value == "true" ? flag : flag + " " + a.change.value;
  return fmt::format("{} ({})", flags, a.what);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string describe_precision(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32 (weights, grads, states fp32)";
    case Precision::kAmp: return "amp (fp32 weights under bf16 autocast)";
    case Precision::kMixed: return "mixed (bf16 params+grads, fp32 master+states)";
    case Precision::kBf16: return "bf16 (weights, grads, states bf16)";
  }
  return "?";
}

std::string describe_setup(const Estimate& est) {
  const auto& s = est.inputs.setup;
  if (s.infer) {
    const Bytes kv = s.kv_bytes != 0 ? s.kv_bytes : precision_bytes(s.precision).weight;
    return fmt::format("inference: KV cache for {} tokens × batch {}, {}-byte weights, {}-byte KV elements, {} attention", s.seq_len,
                       s.micro_batch, precision_bytes(s.precision).weight, kv, to_string(s.attention));
  }
  std::string ckpt = s.grad_ckpt == GradCkpt::kNone ? "no checkpointing" : fmt::format("{} checkpointing", to_string(s.grad_ckpt));
  if (s.ac_every > 1) ckpt += fmt::format(" of every K-th layer (K = {})", s.ac_every);
  const std::string seq = s.target_seq > 0 ? fmt::format("{} (decoder {})", s.seq_len, s.target_seq) : fmt::format("{}", s.seq_len);
  return fmt::format("seq {} × batch {}, grad-accum {}, {}, {}, {} attention, {}, {} loss{}", seq, s.micro_batch,
                     s.grad_accum, describe_precision(s.precision),
                     s.optimizer_in_backward ? fmt::format("{} stepped in backward", to_string(s.optimizer)) : to_string(s.optimizer),
                     to_string(s.attention), ckpt, to_string(s.loss),
                     s.kernels.any() ? fmt::format(", {} kernels", describe(s.kernels)) : "") +
         (s.compile != Compile::kNone ? fmt::format(", torch.compile ({})", to_string(s.compile)) : "");
}

std::string describe_lora(const Estimate& est) {
  const LoraSetup& l = est.inputs.setup.lora;
  if (!l.enabled()) return "";
  const double pct = 100.0 * static_cast<double>(est.params.trainable) / static_cast<double>(est.params.total);
  return fmt::format("LoRA r {} on {}, dropout {}, {} adapters: {} trainable parameters ({:.3f}%), base frozen", l.rank,
                     lora_targets_text(lora_targets_or_default(l)), l.dropout, l.adapter_bytes == 4 ? "fp32" : "bf16",
                     group_digits(est.params.trainable), pct) + (l.dora ? " (DoRA: + magnitude vectors)" : "") +
         (l.base_quant == BaseQuant::kNone ? std::string()
                                           : fmt::format(" ({} base{})", to_string(l.base_quant),
                                                         l.kbit_upcast ? ", the rest fp32: prepare_model_for_kbit_training" : ""));
}

namespace {

// FSDP1: ranks, sharding strategy and the MixedPrecision dtypes.
std::string describe_fsdp1(const ParallelLayout& l) {
  auto dtype = [](const std::optional<Bytes>& b) { return !b ? "by precision" : *b == 2 ? "bf16" : "fp32"; };
  std::string text = fmt::format(
      "FSDP1 (FullyShardedDataParallel, {}, limit_all_gathers) over {} rank{} ({} node{} × {} GPU{}), {}",
      l.fsdp.wrap_blocks ? "a FlatParameter per block + root" : "no auto-wrap: one FlatParameter, the root", l.gpus, l.gpus == 1 ? "" : "s", l.nodes(), l.nodes() == 1 ? "" : "s", std::min(l.gpus, l.gpus_per_node),
      std::min(l.gpus, l.gpus_per_node) == 1 ? "" : "s", l.fsdp.reshard_after_forward ? "FULL_SHARD" : "SHARD_GRAD_OP");
  if (l.fsdp.param_dtype_bytes || l.fsdp.reduce_dtype_bytes) {
    text += fmt::format(", MixedPrecision param_dtype {}, reduce_dtype {}", dtype(l.fsdp.param_dtype_bytes), dtype(l.fsdp.reduce_dtype_bytes));
  }
  if (l.gpus > 1) text += fmt::format(", interconnect {}", to_string(l.interconnect));
  return text + "; sizes are per GPU";
}

// FSDP2: ranks, resharding and the MixedPrecisionPolicy dtypes as the estimate uses them.
std::string describe_fsdp(const ParallelLayout& l) {
  if (l.fsdp.version == 1) return describe_fsdp1(l);
  std::string text = fmt::format("FSDP{} (fully_shard per block + root) over {} rank{} ({} node{} × {} GPU{}), reshard_after_forward {}",
                                 l.fsdp.version, l.gpus, l.gpus == 1 ? "" : "s", l.nodes(), l.nodes() == 1 ? "" : "s",
                                 std::min(l.gpus, l.gpus_per_node), std::min(l.gpus, l.gpus_per_node) == 1 ? "" : "s",
                                 l.fsdp.reshard_after_forward ? "true" : "false");
  auto dtype = [](const std::optional<Bytes>& b) { return !b ? "by precision" : *b == 2 ? "bf16" : "fp32"; };
  if (l.fsdp.param_dtype_bytes || l.fsdp.reduce_dtype_bytes) {
    text += fmt::format(", param_dtype {}, reduce_dtype {}", dtype(l.fsdp.param_dtype_bytes), dtype(l.fsdp.reduce_dtype_bytes));
  }
  if (l.fsdp.replicate > 1) {
    text += fmt::format(", HSDP {} replicas × {} shards", l.fsdp.replicate, l.data_parallel() / l.fsdp.replicate);
  }
  if (l.fsdp.cpu_offload) text += ", CPUOffloadPolicy (states in host RAM, step on the CPU)";
  if (l.gpus > 1) text += fmt::format(", interconnect {}", to_string(l.interconnect));
  return text + "; sizes are per GPU";
}

}  // namespace

std::string describe_layout(const Estimate& est) {
  const ParallelLayout& l = est.inputs.layout;
  const ZeroSettings& z = l.zero;
  if (l.gpus == 1 && z.stage == 0 && l.megatron == MegatronOptimizer::kNone && l.fsdp.version == 0) return "";
  if (l.fsdp.version != 0) return describe_fsdp(l);
  std::string text = fmt::format("{} over {} rank{} ({} node{} × {} GPU{})", z.stage ? fmt::format("ZeRO-{}", z.stage) : "no ZeRO",
                                 l.gpus, l.gpus == 1 ? "" : "s", l.nodes(), l.nodes() == 1 ? "" : "s",
                                 std::min(l.gpus, l.gpus_per_node), std::min(l.gpus, l.gpus_per_node) == 1 ? "" : "s");
  if (z.offload_optimizer.device != OffloadDevice::kNone) text += fmt::format(", optimizer offloaded to {}", to_string(z.offload_optimizer.device));
  if (z.offload_param.device != OffloadDevice::kNone) text += fmt::format(", parameters offloaded to {}", to_string(z.offload_param.device));
  if (z.stage == 3) text += z.zero3_init ? ", zero.Init" : ", no zero.Init";
  if (l.gpus > 1) text += fmt::format(", interconnect {}", to_string(l.interconnect));
  if (l.megatron != MegatronOptimizer::kNone) text += fmt::format(", Megatron optimizer {} (fp32 main_grad)", to_string(l.megatron));
  if (l.has_model_parallel()) text += ", " + describe_model_parallel(l, est.inputs.setup);
  if (l.ep > 1) text += fmt::format(", expert parallelism {} ({} routed experts per rank)", l.ep, est.inputs.model.num_experts / l.ep);
  return text + "; sizes are per GPU";
}

std::string cpu_verdict(const Estimate& est, SizeUnits units) {
  if (!est.cpu_capacity) return "";
  const Bytes cap = *est.cpu_capacity;
  if (est.cpu_fits()) {
    return fmt::format("host RAM fits --cpu-mem ({}): {} free per node", format_size(cap, units), format_size(cap - est.cpu_peak_per_node, units));
  }
  return fmt::format("host RAM does not fit --cpu-mem ({}): exceeds by {} per node", format_size(cap, units),
                     format_size(est.cpu_peak_per_node - cap, units));
}

std::string verdict(const Estimate& est, SizeUnits units) {
  if (!est.capacity) return "";
  const Bytes cap = *est.capacity;
  if (est.gpu_fits()) {
    return fmt::format("fits {} ({}): {} free", capacity_name(est), format_size(cap, units),
                       format_size(cap - est.device_total, units));
  }
  return fmt::format("does not fit {} ({}): exceeds by {}", capacity_name(est), format_size(cap, units),
                     format_size(est.device_total - cap, units));
}

void render_estimate(std::ostream& out, const Estimate& est, const OutputOptions& view) {
  switch (view.format) {
    case Format::kTable: render_table(out, est, view); break;
    case Format::kJson: render_json(out, est); break;
    case Format::kCsv: render_csv(out, est); break;
    case Format::kMarkdown: render_markdown(out, est, view); break;
    case Format::kSvg:
    case Format::kHtml: break;  // charts are a sweep's (the CLI rejects them before)
  }
}

void render_deepspeed_estimate(std::ostream& out, const ModelConfig& model, const ParameterCounts& params,
                               std::uint64_t gpus_per_node, std::uint64_t nodes, const OutputOptions& view) {
  const auto z3 = deepspeed_zero3_model_states_estimate(params.total, params.largest_module, gpus_per_node, nodes);
  const auto z2 = deepspeed_zero2_model_states_estimate(params.total, gpus_per_node, nodes);
  if (view.format == Format::kJson) {
    nlohmann::ordered_json j;
    j["about"] = "DeepSpeed's own estimators (estimate_zero2/zero3_model_states_mem_needs): model states only";
    j["model"] = model.name;
    j["parameters"] = params.total;
    j["largest_layer_parameters"] = params.largest_module;
    j["gpus_per_node"] = gpus_per_node;
    j["nodes"] = nodes;
    for (const auto& [key, rows] : {std::pair{"zero3", z3}, std::pair{"zero2", z2}}) {
      nlohmann::ordered_json arr = nlohmann::ordered_json::array();
      for (const auto& r : rows) arr.push_back({{"options", r.options}, {"cpu_bytes", r.cpu_bytes}, {"gpu_bytes", r.gpu_bytes}});
      j[key] = arr;
    }
    out << j.dump(2) << "\n";
    return;
  }
  if (view.format == Format::kCsv) {
    out << "stage,options,cpu_bytes,gpu_bytes\n";
    for (const auto& [stage, rows] : {std::pair{"zero3", z3}, std::pair{"zero2", z2}}) {
      for (const auto& r : rows) out << fmt::format("{},{},{},{}\n", stage, csv_field(r.options), r.cpu_bytes, r.gpu_bytes);
    }
    return;
  }
  const SizeUnits u = view.units;
  const char* unit = unit_label(u);
  const bool md = view.format == Format::kMarkdown;
  out << fmt::format("DeepSpeed's estimators for {} ({} params, largest layer {}), {} node(s) × {} GPU(s)\n", model.name,
                     group_digits(params.total), group_digits(params.largest_module), nodes, gpus_per_node);
  out << "MODEL STATES ONLY: no activations, logits, buffers, CUDA context or NCCL (use `vramcalc estimate --zero`).\n";
  out << "DeepSpeed prints these as \"GB\" but divides by 2^30: they are GiB";
  out << (u == SizeUnits::kBinary ? ".\n\n" : "; shown here in GB (10^9 bytes).\n\n");
  for (const auto& [title, rows] : {std::pair{"ZeRO-3 (stage3.py estimate_zero3_model_states_mem_needs)", z3},
                                    std::pair{"ZeRO-2 (stage_1_and_2.py estimate_zero2_model_states_mem_needs)", z2}}) {
    if (md) {
      out << "**" << title << "**\n\n";
      out << fmt::format("| per CPU ({}) | per GPU ({}) | options |\n|---:|---:|---|\n", unit, unit);
      for (const auto& r : rows) {
        out << fmt::format("| {:.2f} | {:.2f} | {} |\n", to_unit(r.cpu_bytes, u), to_unit(r.gpu_bytes, u), r.options);
      }
      out << "\n";
      continue;
    }
    out << title << "\n";
    out << fmt::format("  {:>12} | {:>12} | options\n", "per CPU", "per GPU");
    for (const auto& r : rows) {
      out << fmt::format("  {:>8.2f} {:<3} | {:>8.2f} {:<3} | {}\n", to_unit(r.cpu_bytes, u), unit, to_unit(r.gpu_bytes, u),
                         unit, r.options);
    }
    out << "\n";
  }
}

void render_models(std::ostream& out, const std::vector<BuiltinModel>& models, const OutputOptions& view) {
  if (view.format == Format::kJson) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& b : models) {
      j.push_back({{"name", b.name},
                   {"aliases", b.aliases},
                   {"model_type", family_name(b.config.family)},
                   {"parameters", count_parameters(b.config).total},
                   {"source", b.source}});
    }
    out << j.dump(2) << "\n";
    return;
  }
  const bool csv = view.format == Format::kCsv;
  const bool md = view.format == Format::kMarkdown;
  if (csv) out << "name,aliases,model_type,parameters,source\n";
  if (md) out << "| name | aliases | model_type | parameters | source |\n|---|---|---|---:|---|\n";
  if (!csv && !md) out << fmt::format("{:<16} {:<40} {:<8} {:>16}\n", "name", "aliases", "type", "parameters");
  for (const auto& b : models) {
    const std::string aliases = fmt::format("{}", fmt::join(b.aliases, csv ? ";" : ", "));
    const std::uint64_t params = count_parameters(b.config).total;
    if (csv) {
      out << fmt::format("{},{},{},{},{}\n", csv_field(b.name), csv_field(aliases), family_name(b.config.family), params,
                         csv_field(b.source));
    } else if (md) {
      out << fmt::format("| {} | {} | {} | {} | {} |\n", b.name, aliases, family_name(b.config.family), group_digits(params), b.source);
    } else {
      out << fmt::format("{:<16} {:<40} {:<8} {:>16}\n", b.name, aliases, family_name(b.config.family), group_digits(params));
    }
  }
}

void render_gpus(std::ostream& out, const std::vector<GpuSpec>& gpus, const OutputOptions& view) {
  if (view.format == Format::kJson) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& g : gpus) {
      j.push_back({{"name", g.name},
                   {"display", g.display},
                   {"capacity_bytes", g.capacity},
                   {"cuda_context_bytes", g.cuda_context},
                   {"cublas_workspace_bytes", g.cublas_workspace},
                   {"capacity_source", g.capacity_source}});
    }
    out << j.dump(2) << "\n";
    return;
  }
  const bool csv = view.format == Format::kCsv;
  const bool md = view.format == Format::kMarkdown;
  const char* unit = unit_label(view.units);
  if (csv) out << "name,display,capacity_bytes,cuda_context_bytes,capacity_source\n";
  if (md) out << fmt::format("| name | GPU | capacity ({}) | CUDA context ({}) |\n|---|---|---:|---:|\n", unit, unit);
  if (!csv && !md) out << fmt::format("{:<12} {:<28} {:>14} {:>18}\n", "name", "GPU", fmt::format("capacity {}", unit), fmt::format("CUDA context {}", unit));
  for (const auto& g : gpus) {
    if (csv) {
      out << fmt::format("{},{},{},{},{}\n", csv_field(g.name), csv_field(g.display), g.capacity, g.cuda_context,
                         csv_field(g.capacity_source));
    } else if (md) {
      out << fmt::format("| {} | {} | {:.2f} | {:.2f} |\n", g.name, g.display, to_unit(g.capacity, view.units), to_unit(g.cuda_context, view.units));
    } else {
      out << fmt::format("{:<12} {:<28} {:>14.2f} {:>18.2f}\n", g.name, g.display, to_unit(g.capacity, view.units), to_unit(g.cuda_context, view.units));
    }
  }
}

}  // namespace vramcalc::cli
