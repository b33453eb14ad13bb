// JSON: the scripting interface (docs/json.md). Integer bytes, fixed key order, schema_version.
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/render.hpp"
#include <vramcalc/vramcalc.hpp>

namespace vramcalc::cli {
namespace {

using ojson = nlohmann::ordered_json;

constexpr int kSchemaVersion = 1;

ojson term_json(const Term& t) {
  return ojson{{"name", t.name}, {"bytes", t.bytes}, {"formula", t.formula}, {"source", t.source}, {"estimated", t.estimated}};
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
                 {"gpus", est.inputs.layout.gpus}};
  ojson components = ojson::array();
  for (const auto& c : est.components) {
    ojson cj = term_json(c.term);
    cj["kind"] = to_string(c.kind);
    cj["max_bytes"] = c.max_bytes;
    if (c.term.name == "activations") {
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
    }
    components.push_back(cj);
  }
  j["components"] = components;
  ojson phases = ojson::array();
  for (const auto& ph : est.phases) {
    ojson entries = ojson::array();
    for (const auto& e : ph.entries) {
      ojson ej{{"name", e.name}, {"bytes", e.bytes}};
      if (!e.note.empty()) ej["note"] = e.note;
      entries.push_back(ej);
    }
    phases.push_back({{"name", ph.name}, {"point", ph.point}, {"allocated_bytes", ph.allocated}, {"components", entries}});
  }
  j["phases"] = phases;
  const Phase& p = est.phases[est.peak_phase];
  j["peak"] = {{"phase", p.name},
               {"point", p.point},
               {"allocated_bytes", est.peak_allocated},
               {"reserved_bytes", est.peak_reserved},
               {"non_pytorch_bytes", est.non_pytorch},
               {"device_bytes", est.device_total}};
  if (est.capacity) {
    ojson g{{"name", est.capacity_label}, {"capacity_bytes", *est.capacity}, {"fits", est.fits()}};
    g["margin_bytes"] = est.fits() ? static_cast<std::int64_t>(*est.capacity - est.device_total)
                                   : -static_cast<std::int64_t>(est.device_total - *est.capacity);
    j["gpu"] = g;
  } else {
    j["gpu"] = nullptr;
  }
  out << j.dump(2) << "\n";
}

}  // namespace vramcalc::cli
