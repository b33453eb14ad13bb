// The moments of a training step and the phases derived from them.
#include <vramcalc/timeline.hpp>

#include <array>

namespace vramcalc {
namespace {

using enum Instant;

constexpr std::array kInstants = {
    InstantInfo{kLoad, PhaseId::kLoad, "model placed on the GPU"},
    InstantInfo{kForwardLoss, PhaseId::kForward, "loss forward (logits, fp32 upcast, log-softmax)"},
    InstantInfo{kForwardLastLayer, PhaseId::kForward, "last decoder layer's forward"},
    InstantInfo{kBackwardLoss, PhaseId::kBackward, "start of backward (loss backward)"},
    InstantInfo{kBackwardHead, PhaseId::kBackward, "lm_head backward (ZeRO-3: gathered weight and its full gradient)"},
    InstantInfo{kBackwardLastMlp, PhaseId::kBackward, "MLP backward of the last decoder layer"},
    InstantInfo{kBackwardFirstMlp, PhaseId::kBackward, "MLP backward of the first decoder layer"},
    InstantInfo{kBackwardLastAttn, PhaseId::kBackward, "attention backward of the last decoder layer"},
    InstantInfo{kBackwardFirstAttn, PhaseId::kBackward, "attention backward of the first decoder layer"},
    InstantInfo{kBackwardEnd, PhaseId::kBackward, "end of backward (all gradients)"},
    InstantInfo{kStep, PhaseId::kOptimizerStep, "optimizer.step()"},
    InstantInfo{kPrefill, PhaseId::kPrefill, "prefill forward (the prompt's largest layer workspace)"},
    InstantInfo{kDecode, PhaseId::kDecode, "decode step (torch.cat grows one layer's K and V)"},
};

constexpr bool ordered() {
  for (std::size_t i = 0; i < kInstants.size(); ++i) {
    if (static_cast<std::size_t>(kInstants[i].instant) != i) return false;
  }
  return true;
}
static_assert(ordered(), "kInstants rows must follow Instant order");

constexpr std::array<std::string_view, 6> kPhaseNames = {"load", "forward", "backward", "optimizer_step", "prefill", "decode"};

}  // namespace

std::string_view name_of(PhaseId phase) { return kPhaseNames[static_cast<std::size_t>(phase)]; }
const InstantInfo& info(Instant instant) { return kInstants[static_cast<std::size_t>(instant)]; }

void Moment::add(ComponentId id, Bytes bytes, std::string note) {
  if (bytes == 0) return;
  for (auto& e : entries) {
    if (e.id == id) {
      e.bytes = checked_add(e.bytes, bytes);
      if (!note.empty()) e.note = std::move(note);
      return;
    }
  }
  entries.push_back({id, bytes, std::move(note)});
}

Bytes Moment::total() const {
  Bytes t = 0;
  for (const auto& e : entries) t = checked_add(t, e.bytes);
  return t;
}

Bytes Moment::bytes_of(ComponentId id) const {
  for (const auto& e : entries) {
    if (e.id == id) return e.bytes;
  }
  return 0;
}

Bytes Phase::bytes_of(ComponentId component) const {
  for (const auto& e : entries) {
    if (e.id == component) return e.bytes;
  }
  return 0;
}

std::vector<Phase> phases_of(std::span<const Moment> timeline) {
  std::vector<Phase> phases;
  for (PhaseId id : {PhaseId::kLoad, PhaseId::kForward, PhaseId::kBackward, PhaseId::kOptimizerStep, PhaseId::kPrefill,
                     PhaseId::kDecode}) {
    const Moment* best = nullptr;
    for (const auto& m : timeline) {
      if (info(m.instant).phase == id && (best == nullptr || m.total() > best->total())) best = &m;
    }
    if (best != nullptr) phases.push_back({id, best->label, best->total(), best->entries});
  }
  return phases;
}

}  // namespace vramcalc
