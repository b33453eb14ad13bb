#pragma once
// Tensor, context and pipeline parallelism: one rank seen as a smaller single-rank job (its
// model split by tp, its sequence by cp, its stage's layers), plus the buffers those layouts add.

#include <vector>

#include <vramcalc/activations.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/rank_role.hpp>
#include <vramcalc/timeline.hpp>

namespace vramcalc {

/// One rank of a model-parallel job as the single-rank estimate sees it.
struct RankView {
  ModelConfig model;        ///< the rank's share: heads, KV heads, MLP and vocab / tp; the stage's layers
  ModelConfig chunk_model;  ///< the same with the layers of one model chunk (activations)
  TrainingSetup setup;      ///< sequence / cp; grad_accum = the pipeline's micro-batches
  ParallelLayout layout;    ///< the data-parallel group that shards the states (dp·cp ranks)
  RankRole role;
  std::uint64_t tp = 1, cp = 1, seq_shards = 1;
};

/// Buffers of tensor, context and pipeline parallelism, and which parts the rank holds.
struct ModelParallelTerms {
  bool head = true;  ///< lm_head and the loss on this rank
  Term sp_gather;    ///< Megatron's all-gather buffer for sequence parallelism (persistent)
  Term cp_kv;        ///< K and V all-gathered over the context-parallel group (inside attention)
  Term pp_recv;      ///< received stage inputs of the micro-batches in flight
  Term loss_graphs;  ///< loss graphs of further micro-batches in flight (GPipe's last stage)
  Term ep_a2a;       ///< expert parallelism: one MoE layer's all-to-all send and receive buffers
};

/// Every distinct role of the job (one without pipeline parallelism).
std::vector<RankRole> rank_roles(const ModelConfig& model, const ParallelLayout& layout, std::uint64_t microbatches);
/// InputError for tp/cp/pp settings the model or setup cannot take.
void validate_model_parallel(const EstimateInputs& in);

RankView rank_view(const EstimateInputs& in, const RankRole& role);
ParameterCounts rank_parameters(const RankView& v);
Activations rank_activations(const RankView& v);
LogitsLoss rank_loss(const RankView& v);
ModelParallelTerms model_parallel_terms(const RankView& v, const LogitsLoss& loss);
/// The label of `instant` on this rank: a pipeline stage without the loss ends its forward
/// and starts its backward without one.
std::string stage_label(Instant instant, const ModelParallelTerms& mp);
/// Adds the model-parallel buffers alive at `instant`.
void model_parallel_at(Instant instant, const ModelParallelTerms& mp, Moment& m);

}  // namespace vramcalc
