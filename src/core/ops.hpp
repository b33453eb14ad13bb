#pragma once
// What each op kind of a decoder layer saves for backward, derived from the HF modules and the
// autograd formulas of the ATen ops they call. Rules used throughout:
//   - an op saves an input only when the *other* input needs grad (mul by a constant saves the
//     constant; a Linear with a trainable weight saves its input);
//   - .to(dtype), add, view/transpose and scalar mul save nothing; pow, rsqrt, silu/gelu,
//     softmax, log_softmax and tanh save their input or output;
//   - tensors that share storage are counted once.
// Symbols: T = s·b tokens, h hidden, qd = a·d, kvd = k·d, I intermediate, a heads,
// r = residual-stream bytes (fp32 under autocast), e = bytes of matmul inputs/outputs.

#include <vector>

#include <vramcalc/architecture.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// One saved tensor (or storage) of a layer: its term, the backward region that releases it,
/// and whether it grows with s² (what selective checkpointing recomputes).
struct SavedTensor {
  Term term;
  BackwardRegion region = BackwardRegion::kInput;
  bool grows_s2 = false;
};

/// The shape of one micro-batch through one layer.
struct Dims {
  Bytes T, h, qd, kvd, I, a, s, b, d, rot;
  Bytes r, e;  ///< residual and compute bytes
  bool amp;
  KernelSet kernels;  ///< fused kernels replacing the eager ops (ops_fused.cpp)
  Bytes Tn = 0;  ///< tokens of the sequence-sharded region (norms, the residual stream): T, or T / tp with sequence parallelism
  MoeRouting moe{};  ///< expert routing (moe_routing.hpp): the rows the routed experts compute
};

Dims dims_of(const ModelConfig& m, const TrainingSetup& setup);

void norm_saved(const NormOp& op, const Dims& x, std::vector<SavedTensor>& out);
void linear_input_saved(const LinearInputOp& op, const Dims& x, std::vector<SavedTensor>& out);
/// `masked`: the SDPA call gets a materialised mask (padding, packed documents, sliding
/// windows past the window, or a model that always builds one).
void attention_saved(const AttentionOp& op, const ModelConfig& m, const TrainingSetup& setup, const Dims& x, bool masked,
                     std::vector<SavedTensor>& out);
void mlp_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out);
/// The bool keep masks of the residual branches' dropout, two per layer (ops_dropout.cpp).
void hidden_dropout_saved(const TrainingSetup& setup, const Dims& x, std::vector<SavedTensor>& out);
/// The embedding dropout's bool keep mask (empty without hidden dropout).
Term embedding_dropout_saved(const TrainingSetup& setup, const Dims& x);

/// Multi-head latent attention (AttentionOp::mla; ops_mla.cpp).
void mla_saved(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, bool masked, std::vector<SavedTensor>& out);

/// The MoE block (router, routed experts, shared expert) of MlpKind::kMoe (ops_moe.cpp).
void moe_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out);
Bytes moe_backward_transient(const MlpOp& op, const Dims& x);
/// The load-balancing aux loss's saved tensors (output_router_logits), outside the layers.
Term moe_aux_loss_saved(const ModelConfig& m, const Dims& x);

/// gpt-oss (ops_gpt_oss.cpp): the eager softmax with a sink column, its router and its experts.
void sinks_softmax_saved(const Dims& x, std::vector<SavedTensor>& out);
/// Gradient buffers of the sink softmax's backward beside its saved probabilities.
Bytes sinks_backward_transient(const Dims& x);
void gpt_oss_router_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out);
void gpt_oss_experts_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out);

/// Gradient buffers alive at the MLP's backward peak.
Bytes mlp_backward_transient(const MlpOp& op, const Dims& x);
/// Gradient buffers alive at the attention's backward peak.
Bytes attention_backward_transient(const ModelConfig& m, const TrainingSetup& setup, const Dims& x);

}  // namespace vramcalc
