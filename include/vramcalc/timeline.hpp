#pragma once
/// A training step as a timeline: the moments at which allocation can peak, each with the
/// bytes of every component alive then. Phases and the peak are derived from it.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <vramcalc/component.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {

enum class PhaseId { kLoad, kForward, kBackward, kOptimizerStep, kPrefill, kDecode };
/// "load", "forward", "backward", "optimizer_step".
std::string_view name_of(PhaseId phase);

/// The moments of one step, in time order. Each belongs to one phase.
enum class Instant {
  kLoad,              ///< the model placed on the GPU, optimizer partitions built
  kForwardLoss,       ///< the loss forward: logits, fp32 upcast, log-softmax
  kForwardLastLayer,  ///< inside the last decoder layer's forward
  kBackwardLoss,      ///< the loss backward, every activation still saved
  kBackwardHead,      ///< lm_head's backward when its weight is gathered (ZeRO-3)
  kBackwardLastMlp,   ///< the last layer's backward at its MLP peak
  kBackwardFirstMlp,  ///< the first layer's backward at its MLP peak
  kBackwardLastAttn,  ///< the last layer's backward at its attention peak
  kBackwardFirstAttn, ///< the first layer's backward at its attention peak
  kBackwardEnd,       ///< every gradient produced
  kStep,              ///< optimizer.step()
  kPrefill,           ///< inference (--infer): the prompt's forward, its KV cache written
  kDecode,            ///< inference: a decode step, the cache growing by one token
};

struct InstantInfo {
  Instant instant;
  PhaseId phase;
  std::string_view label;
};
const InstantInfo& info(Instant instant);

/// One component's bytes at one moment, with a note when only part of it is alive.
struct PhaseEntry {
  ComponentId id;
  Bytes bytes = 0;
  std::string note;
};

/// Components alive at one instant.
struct Moment {
  Instant instant = Instant::kLoad;
  std::string label;
  std::vector<PhaseEntry> entries;

  /// Adds `bytes` of `id` (nothing when 0); a second add of the same id sums into the first.
  void add(ComponentId id, Bytes bytes, std::string note = "");
  Bytes total() const;
  Bytes bytes_of(ComponentId id) const;
};

/// One phase of a step and the moment inside it where allocation peaks.
struct Phase {
  PhaseId id = PhaseId::kLoad;
  std::string point;  ///< the label of the moment that sets the phase's peak
  Bytes allocated = 0;
  std::vector<PhaseEntry> entries;  ///< allocated components at that moment; Σ = allocated

  std::string_view name() const { return name_of(id); }
  Bytes bytes_of(ComponentId component) const;
};

/// The phases of `timeline`, in PhaseId order, each at its largest moment (the first one
/// when two are equal). Phases without a moment are left out.
std::vector<Phase> phases_of(std::span<const Moment> timeline);

}  // namespace vramcalc
