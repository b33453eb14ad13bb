#pragma once
/// Rank roles: with model parallelism the ranks of one job do not all hold the same bytes.
/// Pipeline stages differ (the first holds the embedding and the most micro-batches in
/// flight, the last holds lm_head and the loss); tensor- and context-parallel ranks of one
/// stage are alike. The estimate computes every distinct role and reports the most loaded
/// one as the peak. A layout with other kinds of ranks (e.g. expert parallelism) adds roles
/// the same way.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <vramcalc/component.hpp>
#include <vramcalc/layout.hpp>
#include <vramcalc/training.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {

/// One kind of rank of the job and what it holds.
struct RankRole {
  std::string name;               ///< "every rank", "first stage", "middle stages", "last stage"
  std::string which;              ///< the ranks it covers, in words ("pipeline rank 0")
  std::uint64_t ranks = 0;        ///< how many of the job's ranks play it
  std::uint64_t stage = 0;        ///< the pipeline rank computed (the most loaded of the role)
  std::uint64_t layers = 0;       ///< decoder layers held (all model chunks)
  std::uint64_t chunk_layers = 0; ///< decoder layers per model chunk (L / (pp·virtual stages))
  std::uint64_t inflight = 1;     ///< chunk-forwards whose activations are alive at once
  bool embedding = true;          ///< holds the input embedding
  bool head = true;               ///< holds the final norm, lm_head and the loss
  std::uint64_t head_inflight = 1;  ///< forwards through the head chunk alive at once (its loss graphs)
};

/// The outcome for one role: its parameters and its peak.
struct RoleResult {
  RankRole role;
  std::uint64_t parameters = 0;  ///< parameters one rank of the role holds
  std::string peak_phase;        ///< "forward", "backward", ...
  std::string peak_point;
  Bytes peak_allocated = 0;
  Bytes peak_reserved = 0;
  Bytes device_total = 0;
  std::vector<std::pair<ComponentId, Bytes>> components;  ///< allocated components at the role's peak
};

/// Micro-batches per step through the pipeline: layout.microbatches, else grad_accum.
std::uint64_t pipeline_microbatches(const TrainingSetup& setup, const ParallelLayout& layout);

}  // namespace vramcalc
