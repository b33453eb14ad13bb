#pragma once
/// Activation memory: what autograd saves for backward in each decoder layer, derived op by
/// op from the HF implementation (architecture.hpp, src/core/ops.cpp), and how checkpointing changes it.

#include <vector>

#include <vramcalc/activation_offload.hpp>
#include <vramcalc/model.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

struct Activations {
  std::vector<Term> layer_parts;  ///< itemised saved tensors of one layer (no checkpointing)
  Bytes per_layer = 0;            ///< Σ layer_parts: one layer, no checkpointing
  Bytes s2_per_layer = 0;         ///< the part of per_layer that grows with s² (eager scores, masks)
  Bytes kept_per_layer = 0;       ///< what each layer keeps under the chosen checkpointing
  Bytes recompute = 0;            ///< re-materialised for the layer in backward (checkpointing)
  Bytes forward_transient = 0;    ///< extra bytes live inside one layer's forward
  Bytes backward_transient = 0;   ///< working set of one layer's backward (gradient buffers): max of the two below
  Bytes mlp_backward_transient = 0;   ///< gradient buffers at the MLP's backward peak
  Bytes attn_backward_transient = 0;  ///< gradient buffers at the attention's backward peak
  Bytes freed_before_mlp_peak = 0;    ///< saved bytes already released then (down_proj's input)
  Bytes freed_before_attn_peak = 0;   ///< saved bytes already released then (MLP, later norms, o_proj's input)
  Bytes final_norm_saved = 0;         ///< the final norm's saved bytes (released before the layers' backward)
  Bytes masked_layers = 0;            ///< layers whose SDPA call gets a materialised mask
  Bytes mask_per_masked_layer = 0;    ///< what such a layer saves beyond per_layer (mask copy, repeated K/V, padded lse)
  Bytes mask_copy_per_layer = 0;      ///< of which the float copy of the mask the kernel saves
  std::vector<Term> outside_parts;///< saved outside the decoder layers (ids, RoPE tables, final norm)
  Bytes outside = 0;              ///< Σ outside_parts
  Term forward_masks;             ///< shared attention masks, alive during the forward only
  Term stack;                     ///< the "activations" component: L × kept + outside
  Term backward_working;          ///< one layer's backward working set (+ recompute)
  std::string forward_transient_note;  ///< what LoRA variants add to forward_transient (DoRA's weight norm), for --explain
  Bytes dense_layers = 0;         ///< DeepSeek first_k_dense_replace layers (a dense MLP): they save dense_per_layer
  Bytes dense_per_layer = 0;      ///< what one such layer saves (no checkpointing); layer_parts are an MoE layer's
  std::vector<Term> dense_layer_parts;  ///< the saved tensors of a dense layer's MLP half
  ActivationOffload offload;      ///< --offload-activations: what left the GPU, the host copies (stack is then what stays)
  std::vector<Term> kept_parts;   ///< itemised kept_per_layer where checkpointing keeps a list (op-level SAC, eager or compiled)
  Bytes decoder_layers = 0;       ///< encoder-decoders (T5): blocks of the decoder stack; per_layer / layer_parts are an encoder block's
  Bytes decoder_per_layer = 0;    ///< what one decoder block saves (self-attention, cross-attention, FF at the target length)
  std::vector<Term> decoder_layer_parts;  ///< its saved tensors, itemised
  Bytes decoder_kept_per_layer = 0;  ///< what each decoder block keeps under the chosen checkpointing
  Bytes first_layer_working = 0;  ///< when > 0: all the first layer's backward holds of activations (T5 checkpointed: block 0's recompute)
  Bytes first_layer_outside = 0;  ///< with first_layer_working: what outside the layers is still alive then (the ids)
  std::uint64_t first_layer_pending_params = 0;  ///< with first_layer_working: parameters whose gradients are not made then (the block's, the embedding's)
};

/// Activation memory of `model` under `setup` (one micro-batch, one replica).
Activations activations(const ModelConfig& model, const TrainingSetup& setup);
/// The same with the residual stream and the norms split over `sequence_shards` ranks along
/// the sequence (Megatron sequence parallelism: they save the sequence-sharded tensors).
Activations activations(const ModelConfig& model, const TrainingSetup& setup, std::uint64_t sequence_shards);

}  // namespace vramcalc
