// One model-parallel rank's parameters, activations and loss, and the buffers tensor, context
// and pipeline parallelism add (research modeling-parallel.md §3.1-3.3, §4, §5.1-5.4).
#include "core/model_parallel.hpp"
#include "core/expert_parallel.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/model_states.hpp>

#include "core/dense_layers.hpp"

namespace vramcalc {
namespace {

bool kept_on_stage(const ParamTensor& t, const RankRole& role, bool tied) {
  // Megatron keeps a copy of a tied embedding on the last stage for the output layer
  // (LanguageModule.setup_embeddings_and_output_layer, synced by an all-reduce).
  if (t.scope == ParamScope::kEmbedding) return role.embedding || (tied && role.head);
  if (t.scope == ParamScope::kFinalNorm || t.scope == ParamScope::kLmHead) return role.head;
  return true;
}

Bytes sum_part(const std::vector<Term>& parts, bool (*match)(const Term&)) {
  Bytes total = 0;
  for (const auto& t : parts) {
    if (match(t)) total = checked_add(total, t.bytes);
  }
  return total;
}

// The embedding's saved tensors: its token ids and its dropout mask (first stage only).
bool is_ids(const Term& t) { return t.name == "input_ids" || t.name == "embedding_dropout_mask"; }
bool is_final_norm(const Term& t) { return t.name.starts_with("final_norm"); }

}  // namespace

ParameterCounts rank_parameters(const RankView& v) {
  const ParameterCounts all = count_parameters(v.model);
  const bool tied = v.model.tie_word_embeddings;
  ParameterCounts pc;
  for (const auto& t : all.tensors) {
    if (!kept_on_stage(t, v.role, tied)) continue;
    pc.tensors.push_back(t);
    const std::uint64_t n = t.total();
    pc.total = checked_add(pc.total, n);
    if (t.trainable) pc.trainable = checked_add(pc.trainable, n);
    if (t.matmul) pc.matmul_weights += n;
    if (t.scope == ParamScope::kLayer && !in_dense_layers_only(t, v.chunk_model)) pc.per_layer += t.numel();
    if (t.scope == ParamScope::kFinalNorm) pc.final_norm += t.numel();
    if (t.scope == ParamScope::kEmbedding) pc.embedding += n;
    if (t.scope == ParamScope::kLmHead) pc.lm_head += n;
    pc.largest_tensor = std::max(pc.largest_tensor, t.numel());
  }
  if (tied && v.role.head) pc.matmul_weights += all.embedding;
  pc.largest_module = all.largest_module;
  return pc;
}

// One chunk's activations for one micro-batch (sequence / cp, heads and MLP / tp, the norms
// and residual / tp with sequence parallelism), times the chunk-forwards in flight; a stage
// without the embedding saves no token ids, one without the head no final norm.
Activations rank_activations(const RankView& v) {
  Activations a = activations(v.chunk_model, v.setup, v.seq_shards);
  Bytes dropped = 0;
  if (!v.role.embedding) dropped = checked_add(dropped, sum_part(a.outside_parts, is_ids));
  if (!v.role.head) dropped = checked_add(dropped, sum_part(a.outside_parts, is_final_norm));
  std::erase_if(a.outside_parts, [&](const Term& t) { return (!v.role.embedding && is_ids(t)) || (!v.role.head && is_final_norm(t)); });
  if (!v.role.head) a.final_norm_saved = 0;
  a.outside -= dropped;
  const Bytes per_unit = a.stack.bytes - dropped;
  // The final norm's saved tensors belong to the head chunk's forwards only.
  const Bytes head = v.role.head ? sum_part(a.outside_parts, is_final_norm) : 0;
  a.stack.bytes = checked_add(checked_mul(v.role.inflight, per_unit - head), checked_mul(v.role.head_inflight, head));
  a.stack.formula = fmt::format("{} chunk-forward{} in flight × ({} layers × kept {} + outside {}) [tp {}{}, cp {}]", v.role.inflight,
                                v.role.inflight == 1 ? "" : "s", v.role.chunk_layers, group_digits(a.kept_per_layer),
                                group_digits(per_unit - checked_mul(v.role.chunk_layers, a.kept_per_layer)), v.tp,
                                v.seq_shards > 1 ? " with sequence parallelism" : "", v.cp);
  if (head > 0 && v.role.head_inflight != v.role.inflight) {
    a.stack.formula += fmt::format(", the final norm's {} only for the {} head-chunk forward{} in flight", group_digits(head),
                                   v.role.head_inflight, v.role.head_inflight == 1 ? "" : "s");
  }
  a.stack.source = "per-op derivation of the HF layer with heads, MLP and vocab / tp (Megatron column/row-parallel linears), "
                   "norms and residual / tp under SP (Korthikanti et al. 2022 arXiv:2205.05198 §4.2.2), sequence / cp; "
                   "in-flight micro-batches: Megatron core/pipeline_parallel/schedules.py";
  return a;
}

LogitsLoss rank_loss(const RankView& v) {
  if (!v.role.head) {
    const Term none{"logits_loss", 0, "no lm_head on this pipeline stage", "", false};
    return {none, none, none};
  }
  // Loss parallelism: logits stay vocab-sharded (T·V/tp), log-softmax statistics are
  // all-reduced (torch distributed/tensor/parallel/loss.py; Megatron vocab_parallel_cross_entropy).
  return logits_loss(v.model, v.setup);
}

ModelParallelTerms model_parallel_terms(const RankView& v, const LogitsLoss& loss) {
  ModelParallelTerms mp;
  mp.head = v.role.head;
  const Bytes e = precision_bytes(v.setup.precision).compute;
  const Bytes T = v.setup.tokens();
  const Bytes h = v.model.hidden_size;
  mp.sp_gather = component_term(ComponentId::kSpGatherBuffer, v.seq_shards > 1 ? checked_product({e, T, h}) : 0,
                                fmt::format("{}·T·h: the sequence-sharded input all-gathered before the column-parallel linears (T = {})", e, T),
                                "Megatron core/tensor_parallel/layers.py linear_with_grad_accumulation_and_async_allreduce "
                                "(get_global_memory_buffer().get_tensor(..., \"mpu\"), kept and reused)", true);
  const Bytes full_T = checked_mul(T, v.cp);
  mp.cp_kv = component_term(ComponentId::kCpKvGather, v.cp > 1 ? checked_product({2, e, full_T, v.model.kv_dim()}) : 0,
                            fmt::format("2·{}·(cp·T)·kv_dim/tp: K and V of the whole sequence, all-gathered inside one layer's attention", e),
                            "torch distributed/tensor/experimental/_attention.py _AllGatherRotater (torchtitan default rotate method allgather)", true);
  const Bytes stage_input = checked_product({e, ceil_div(T, v.seq_shards), h});
  mp.pp_recv = component_term(ComponentId::kPpRecvInputs, v.role.embedding ? 0 : checked_mul(v.role.inflight, stage_input),
                              fmt::format("{} in flight × {}·T·h{}: each micro-batch's received stage input, kept for its backward",
                                          v.role.inflight, e, v.seq_shards > 1 ? "/tp" : ""),
                              "Megatron core/pipeline_parallel/schedules.py (input_tensors kept until backward_step)", true);
  const std::uint64_t graphs = v.role.head && v.role.head_inflight > 1 ? v.role.head_inflight - 1 : 0;
  mp.loss_graphs = component_term(ComponentId::kLogitsLoss, checked_mul(graphs, loss.saved.bytes),
                                  fmt::format("{} more micro-batches' saved loss ({} each)", graphs, group_digits(loss.saved.bytes)),
                                  "torch distributed/pipelining/schedules.py ScheduleGPipe (_maybe_compute_loss in each forward)", true);
  mp.ep_a2a = ep_all_to_all(v);
  return mp;
}

std::string stage_label(Instant i, const ModelParallelTerms& mp) {
  if (!mp.head && i == Instant::kForwardLoss) return "end of the stage's forward (no loss on this pipeline stage)";
  if (!mp.head && i == Instant::kBackwardLoss) return "start of the stage's backward (gradient received from the next stage)";
  return std::string(info(i).label);
}

void model_parallel_at(Instant i, const ModelParallelTerms& mp, Moment& m) {
  using enum Instant;
  if (i == kLoad) return;
  m.add(ComponentId::kSpGatherBuffer, mp.sp_gather.bytes);
  const bool layer = i == kForwardLastLayer || i == kBackwardLastMlp || i == kBackwardFirstMlp || i == kBackwardLastAttn ||
                     i == kBackwardFirstAttn;
  if (layer) m.add(ComponentId::kCpKvGather, mp.cp_kv.bytes, "inside one layer's attention");
  const bool mlp = i == kForwardLastLayer || i == kBackwardLastMlp || i == kBackwardFirstMlp;
  if (mlp) m.add(ComponentId::kEpAllToAll, mp.ep_a2a.bytes, "inside one MoE layer's all-to-all");
  const bool saved = i != kBackwardEnd && i != kStep;
  if (saved) m.add(ComponentId::kPpRecvInputs, mp.pp_recv.bytes);
  if (saved) m.add(ComponentId::kLogitsLoss, mp.loss_graphs.bytes, "other micro-batches' loss graphs in flight");
}

}  // namespace vramcalc
