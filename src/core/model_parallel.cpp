// Tensor, context and pipeline parallelism: the roles of a job's ranks, the checks the model
// and setup must pass, and each role's rank seen as a smaller single-rank job (research
// modeling-parallel.md §3-5).
#include "core/model_parallel.hpp"
#include "core/expert_parallel.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

// Megatron core/utils.py divide() asserts these divisions (ColumnParallelLinear, the attention's
// heads and query groups); torchtitan's parallelize asserts the head counts the same way.
void require_divides(std::uint64_t tp, std::uint64_t n, const char* what) {
  if (n % tp != 0) {
    throw InputError(field::kTp, std::to_string(tp), fmt::format("must divide the model's {} ({})", what, n));
  }
}

void validate_tensor_parallel(const EstimateInputs& in) {
  const ModelConfig& m = in.model;
  const std::uint64_t t = in.layout.tp;
  if (t == 1) return;
  require_divides(t, m.num_heads, "attention heads");
  require_divides(t, m.num_kv_heads, "key/value heads");
  require_divides(t, m.intermediate_size, "MLP width");
  if (in.setup.loss != LossImpl::kFull && in.setup.loss != LossImpl::kVocabParallel) {
    throw InputError(field::kLoss, to_string(in.setup.loss),
                     "with tensor parallelism the loss is vocab-parallel (loss parallelism over the sharded logits); chunked and fused losses are not");
  }
  // Megatron sequence parallelism scatters the sequence: s/cp must divide by tp.
  if (in.layout.sp && (in.setup.seq_len / in.layout.cp) % t != 0) {
    throw InputError(field::kSeqLen, std::to_string(in.setup.seq_len), fmt::format("sequence parallelism needs seq / cp divisible by tp {}", t));
  }
}

void validate_context_parallel(const EstimateInputs& in) {
  const std::uint64_t c = in.layout.cp;
  if (c == 1) return;
  // Load-balanced CP gives each rank two chunks (Megatron: seq_length % (2·cp); torchtitan headtail).
  if (in.setup.seq_len % (2 * c) != 0) {
    throw InputError(field::kSeqLen, std::to_string(in.setup.seq_len), fmt::format("context parallelism needs seq divisible by 2 × cp = {}", 2 * c));
  }
  if (in.setup.attention != Attention::kSdpa) {
    throw InputError(field::kAttention, to_string(in.setup.attention),
                     "context parallelism replaces the SDPA kernel (torch context_parallel, TE ring attention): needs SDPA attention");
  }
  if (in.setup.explicit_mask) throw InputError(field::kCp, std::to_string(c), "context parallelism runs causal attention only: no explicit mask");
}

void validate_pipeline_parallel(const EstimateInputs& in) {
  const ParallelLayout& l = in.layout;
  if (l.pp == 1) return;
  const std::uint64_t chunks = l.pp * l.virtual_stages;
  if (in.model.num_layers % chunks != 0) {
    throw InputError(field::kPp, std::to_string(l.pp),
                     fmt::format("pp × virtual stages = {} must divide the model's {} layers", chunks, in.model.num_layers));
  }
  if (l.microbatches > 0 && in.setup.grad_accum > 1 && l.microbatches != in.setup.grad_accum) {
    throw InputError(field::kMicrobatches, std::to_string(l.microbatches),
                     fmt::format("the pipeline's micro-batches are its gradient-accumulation steps: give micro-batches or gradient-accumulation steps ({}), not both", in.setup.grad_accum));
  }
}

RankRole make_role(const ModelConfig& m, const ParallelLayout& l, std::uint64_t microbatches, std::uint64_t stage, std::uint64_t count) {
  RankRole r;
  r.stage = stage;
  r.ranks = count * (l.gpus / l.pp);
  r.chunk_layers = m.num_layers / (l.pp * l.virtual_stages);
  r.layers = r.chunk_layers * l.virtual_stages;
  r.inflight = l.pp == 1 ? 1 : inflight_units(l.pp_schedule, l.pp, stage, microbatches, l.virtual_stages);
  r.embedding = stage == 0;
  r.head = stage == l.pp - 1;
  if (l.pp > 1 && r.head) r.head_inflight = head_inflight_units(l.pp_schedule, l.pp, microbatches, l.virtual_stages);
  return r;
}

}  // namespace

std::uint64_t pipeline_microbatches(const TrainingSetup& setup, const ParallelLayout& layout) {
  return layout.microbatches > 0 ? layout.microbatches : setup.grad_accum;
}

void validate_model_parallel(const EstimateInputs& in) {
  validate_tensor_parallel(in);
  validate_context_parallel(in);
  validate_pipeline_parallel(in);
  validate_expert_parallel(in);
}

std::vector<RankRole> rank_roles(const ModelConfig& m, const ParallelLayout& l, std::uint64_t microbatches) {
  if (l.pp == 1) {
    RankRole r = make_role(m, l, microbatches, 0, 1);
    r.name = "every rank";
    r.which = fmt::format("all {} ranks (tp {} × cp {} × dp {})", l.gpus, l.tp, l.cp, l.data_parallel());
    if (l.ep > 1) r.which = fmt::format("all {} ranks (tp {} × cp {} × dp {}; ep {}: the most loaded expert-parallel rank)", l.gpus, l.tp, l.cp, l.data_parallel(), l.ep);
    return {r};
  }
  std::vector<RankRole> roles;
  RankRole first = make_role(m, l, microbatches, 0, 1);
  first.name = "first stage";
  first.which = "pipeline rank 0: embedding";
  roles.push_back(first);
  if (l.pp > 2) {
    RankRole middle = make_role(m, l, microbatches, 1, l.pp - 2);
    middle.name = "middle stages";
    middle.which = l.pp == 3 ? "pipeline rank 1" : fmt::format("pipeline ranks 1-{} (rank 1 shown: the most micro-batches in flight)", l.pp - 2);
    roles.push_back(middle);
  }
  RankRole last = make_role(m, l, microbatches, l.pp - 1, 1);
  last.name = "last stage";
  last.which = fmt::format("pipeline rank {}: final norm, lm_head, loss", l.pp - 1);
  roles.push_back(last);
  return roles;
}

RankView rank_view(const EstimateInputs& in, const RankRole& role) {
  const ParallelLayout& l = in.layout;
  RankView v{in.model, in.model, in.setup, in.layout, role, l.tp, l.cp, l.sp ? l.tp : 1};
  // Column-parallel q/k/v, gate/up and row-parallel o/down split by heads and MLP width; the
  // vocab-parallel embedding and lm_head by vocabulary rows (DTensor Shard(0): ⌈V / tp⌉).
  v.model.num_heads /= l.tp;
  v.model.num_kv_heads /= l.tp;
  v.model.intermediate_size /= l.tp;
  v.model.vocab_size = ceil_div(in.model.vocab_size, l.tp);
  v.model.expert_shards = l.ep;  // E / ep routed experts on the rank (expert_parallel.cpp)
  v.setup.moe.ep = l.ep;
  const std::uint64_t L = in.model.num_layers;
  v.model.num_layers = role.layers;
  v.model.sliding_layers = std::min(role.layers, ceil_div(in.model.sliding_layers * role.layers, L));
  v.chunk_model = v.model;
  v.chunk_model.num_layers = role.chunk_layers;
  v.chunk_model.sliding_layers = std::min(role.chunk_layers, ceil_div(in.model.sliding_layers * role.chunk_layers, L));
  v.setup.seq_len = in.setup.seq_len / l.cp;
  if (l.pp > 1) v.setup.grad_accum = pipeline_microbatches(in.setup, l);
  // The states shard over the data-parallel ranks; Megatron's distributed optimizer and
  // torchtitan's FSDP mesh fold the context-parallel ranks in (dp_cp group).
  ParallelLayout dp = l;
  dp.gpus = l.data_parallel() * l.cp;
  dp.tp = dp.cp = dp.pp = dp.virtual_stages = 1;
  dp.sp = false;
  dp.microbatches = 0;
  dp.ep = 1;
  dp.pp_schedule = PipelineSchedule::kOneFOneB;
  v.layout = dp;
  return v;
}

}  // namespace vramcalc
