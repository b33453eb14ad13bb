// The rows a rank's routed experts compute (research modeling-kernels-moe.md §6.6-6.7).
// Dropless, one rank: every routed copy is local, R = T·k, however the router spreads the tokens
// (transformers grouped_mm sorts them into one T·k buffer). With expert parallelism the rank
// receives the copies routed to its E/ep experts from the ep ranks of its group: T·k on average,
// F × that on the most loaded rank. Megatron's capacity factor bounds (drop) or fixes (pad) it.
#include <vramcalc/moe_routing.hpp>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace vramcalc {

// Published routing statistics, rank level: torchtitan's LLEP log of a DeepSeek-V3-style MoE
// (64 experts, top-8, EP 8, 32,768 tokens per rank) prints native_gpu_loads
// [44579, 25139, 54981, 22581, 29444, 29702, 25659, 30059]: max 54,981 / mean 32,768 = 1.68
// ("imbalance=1.68"; NousResearch/torchtitan docs/llep.md @14885753, "Distribution Logging").
// Expert level, the auxiliary-loss-free balancing paper reports MaxVio (max/mean − 1) of 0.5-0.7
// for aux-loss-controlled 1B/3B MoEs (Wang et al. 2024, arXiv:2408.15664). A rank's load averages
// E/ep experts', so an expert-level ratio bounds it from above. Estimated for any other run.
const double kDefaultMoeImbalance = 1.68;

namespace {

Bytes ceil_bytes(double value) { return static_cast<Bytes>(std::ceil(value)); }

// Dropless: the most loaded rank receives ⌈F·T·k⌉ rows, never more than each of the ep ranks'
// T tokens once per local expert (a token picks an expert at most once).
ExpertRows dropless(Bytes T, std::uint64_t k, std::uint64_t E, const MoeRouting& r, bool most_loaded) {
  const Bytes S = checked_mul(T, k);
  if (r.ep == 1) return {S, 0, fmt::format("R = T·k = {}·{}: every routed copy is computed on this rank", T, k)};
  if (!most_loaded) {
    return {S, 0, fmt::format("R = T·k = {}·{}: the mean rows a rank receives (each of the {} ranks sends T·k); the most loaded "
                              "layer's excess is in its backward working set", T, k, r.ep)};
  }
  const double F = moe_imbalance(r);
  const Bytes bound = checked_product({r.ep, T, std::min<std::uint64_t>(k, E / r.ep)});
  const Bytes rows = std::min(ceil_bytes(F * static_cast<double>(S)), bound);
  return {rows, 0,
          fmt::format("R = min(⌈F·T·k⌉, ep·T·min(k, E/ep)) = min(⌈{}·{}·{}⌉, {}·{}·{}): the most loaded of {} expert-parallel ranks "
                      "receives F × the mean T·k rows (F {}{})",
                      F, T, k, r.ep, T, std::min<std::uint64_t>(k, E / r.ep), r.ep, F,
                      r.imbalance ? ", given" : ", estimated: the default from published routing statistics")};
}

}  // namespace

double moe_imbalance(const MoeRouting& routing) { return routing.imbalance.value_or(kDefaultMoeImbalance); }

// Megatron moe_utils.py get_capacity(num_tokens = T·k, num_experts = E, capacity_factor):
// ceil(T·k / E · C) rows per expert per source rank. Dropping (moe_utils.py
// apply_router_token_dropping) keeps at most that many; padding (token_dispatcher.py
// MoEAlltoAllTokenDispatcher.preprocess, drop_and_pad) sends exactly that many, so a rank's E/ep
// experts receive ep × E/ep × capacity = E·capacity rows.
ExpertRows expert_rows(Bytes T, std::uint64_t k, std::uint64_t E, const MoeRouting& routing, bool most_loaded) {
  ExpertRows free = dropless(T, k, E, routing, most_loaded);
  if (!routing.capacity_factor || E == 0) return free;
  const double C = *routing.capacity_factor;
  const Bytes cap = ceil_bytes(static_cast<double>(checked_mul(T, k)) / static_cast<double>(E) * C);
  const Bytes padded = checked_mul(E, cap);
  const std::string capacity = fmt::format("capacity ⌈T·k/E·C⌉ = ⌈{}·{}/{}·{}⌉ = {}", T, k, E, C, cap);
  if (routing.pad_to_capacity) {
    return {padded, cap, fmt::format("R = E·capacity = {}·{}: padded to capacity ({})", E, cap, capacity)};
  }
  if (padded >= free.rows) {
    free.capacity = cap;
    free.formula += fmt::format("; {} drops none (E·capacity = {} ≥ R)", capacity, padded);
    return free;
  }
  return {padded, cap, fmt::format("R = E·capacity = {}·{}: tokens beyond each expert's {} dropped (dropless would be {})", E, cap, capacity, free.rows)};
}

}  // namespace vramcalc
