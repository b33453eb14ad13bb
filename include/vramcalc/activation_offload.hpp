#pragma once
/// Activation offloading (torchtune training/_activation_offloading.py OffloadActivations, with
/// get_act_offloading_ctx_manager's NoOpManager around the output projection): every tensor autograd
/// saves inside the model's forward, of at least min_offload_size (1024 B) and not a Parameter, is
/// copied to pinned host memory on a side stream and copied back when backward unpacks it.

#include <cstdint>
#include <vector>

#include <vramcalc/term.hpp>

namespace vramcalc {

struct ActivationOffload {
  bool enabled = false;
  Bytes moved = 0;               ///< GPU bytes of saved storages that live only on the host between forward and backward
  Bytes small_per_layer = 0;     ///< a plain layer's saved tensors under 1024 B, kept on the GPU
  Bytes rope_moved = 0;          ///< the shared RoPE tables, saved (and so copied) only inside the layers
  Bytes host_bytes = 0;          ///< Σ bytes of the host copies: one per save, a tensor saved by k ops k times
  Bytes host_copies = 0;         ///< how many host copies
  Bytes pinned_bytes = 0;        ///< Σ PowerOf2Ceil(copy) in the CUDA caching host allocator
  Bytes forward_in_flight = 0;   ///< the forward stash (max_fwd_stash_size = 5 saves) inside the last layer
  Bytes backward_in_flight = 0;  ///< the previous node's tensors brought back, freed in the next node's hook
  Term host;                     ///< host RAM term (pinned bytes) for the CPU verdict
  Term in_flight;                ///< the "offload_in_flight" component (forward stash / backward lag)
  std::vector<Term> parts;       ///< host copies, itemised: one layer's, the checkpoint inputs', outside the layers
};

/// The minimum bytes of a saved tensor torchtune offloads (OffloadActivations min_offload_size).
inline constexpr Bytes kMinOffloadBytes = 1024;
/// c10::llvm::PowerOf2Ceil: the pinned block a host copy of `bytes` takes.
Bytes pinned_block(Bytes bytes);

}  // namespace vramcalc
