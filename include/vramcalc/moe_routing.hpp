#pragma once
/// How many token rows the routed experts of one rank compute: the tokens the most loaded
/// expert-parallel rank receives, with Megatron's capacity factor (token dropping, padding to
/// capacity) and a routing-imbalance factor (src/core/moe_routing.cpp).

#include <cstdint>
#include <optional>
#include <string>

#include <vramcalc/units.hpp>

namespace vramcalc {

/// Expert routing knobs of a mixture-of-experts run.
struct MoeRouting {
  /// Max / mean routed tokens over the expert-parallel ranks; unset = kDefaultMoeImbalance.
  std::optional<double> imbalance;
  /// Megatron moe_expert_capacity_factor: capacity = ceil(T·k / E · C) rows per expert; unset = dropless.
  std::optional<double> capacity_factor;
  /// Megatron moe_pad_expert_input_to_capacity: every expert computes exactly `capacity` rows per source rank.
  bool pad_to_capacity = false;
  /// Expert-parallel ranks the rank's tokens are routed over (set from ParallelLayout::ep by the rank view).
  std::uint64_t ep = 1;
};

/// The default max / mean routed tokens per expert-parallel rank: 1.68, an estimate for the user's
/// run taken from one published measurement (moe_routing.cpp says which).
extern const double kDefaultMoeImbalance;

/// The rows one rank's routed experts compute and why.
struct ExpertRows {
  Bytes rows = 0;        ///< R: rows of the experts' grouped GEMMs on this rank
  Bytes capacity = 0;    ///< per-expert capacity (0 = dropless)
  std::string formula;   ///< how R follows from T, k, E, ep, imbalance and capacity
};

/// R for T tokens of this rank, top-k of E experts. Without expert parallelism and without a
/// capacity factor R = T·k (every routed copy is local, however the router spreads them).
/// `most_loaded`: the layer where this rank is the most loaded of its expert-parallel group
/// (imbalance F); otherwise the mean over layers, T·k (each layer's hottest experts sit on a
/// different rank, so a rank's saved rows summed over its layers average out).
ExpertRows expert_rows(Bytes T, std::uint64_t k, std::uint64_t E, const MoeRouting& routing, bool most_loaded = true);

/// The imbalance in effect (the default when unset).
double moe_imbalance(const MoeRouting& routing);

}  // namespace vramcalc
