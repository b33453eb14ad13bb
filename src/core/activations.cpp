// Activation memory: what autograd saves in each decoder layer, op by op from the family's
// layer (architecture.hpp, ops.cpp), and how checkpointing changes it.
#include <vramcalc/activations.hpp>

#include <algorithm>
#include <variant>

#include <fmt/format.h>

#include <vramcalc/architecture.hpp>
#include <vramcalc/model_states.hpp>

#include "core/activation_offload.hpp"
#include "core/linear_bias.hpp"
#include "core/lora_activations.hpp"
#include "core/ops.hpp"
#include "core/te_fp8.hpp"
#include "core/ops_attention_backends.hpp"
#include "core/ops_compiled.hpp"
#include "core/t5_activations.hpp"

namespace vramcalc {
namespace {

const AttentionOp* attention_of(const LayerSpec& spec) {
  for (const auto& op : spec.ops) {
    if (const auto* a = std::get_if<AttentionOp>(&op)) return a;
  }
  return nullptr;
}

const MlpOp* mlp_of(const LayerSpec& spec) {
  for (const auto& op : spec.ops) {
    if (const auto* p = std::get_if<MlpOp>(&op)) return p;
  }
  return nullptr;
}

// Layers whose SDPA call gets an explicit mask: all of them when the batch needs one (padding,
// packed documents) or the model always builds one, else sliding-window layers once s exceeds
// the window (HF masking_utils cannot skip the mask then). Otherwise SDPA runs is_causal.
Bytes sdpa_masked_layers(const ModelConfig& m, const TrainingSetup& setup, const LayerSpec& spec) {
  if (setup.compile != Compile::kNone) return 0;  // compiled: the graph saves the mask once (compiled_outside)
  if (setup.explicit_mask || attention_of(spec)->always_masked) return m.num_layers;
  if (m.sliding_window == 0 || setup.seq_len <= m.sliding_window) return 0;
  return m.sliding_layers;
}

std::vector<SavedTensor> layer_saved(const LayerSpec& spec, const ModelConfig& m, const TrainingSetup& setup, const Dims& x,
                                     bool masked) {
  std::vector<SavedTensor> out;
  hidden_dropout_saved(setup, x, out);
  if (setup.compile != Compile::kNone) {
    std::vector<SavedTensor> compiled = compiled_layer_saved(spec, m, setup, x);
    compiled.insert(compiled.end(), out.begin(), out.end());
    return compiled;
  }
  for (const auto& op : spec.ops) {
    if (const auto* n = std::get_if<NormOp>(&op)) norm_saved(*n, x, out);
    if (const auto* li = std::get_if<LinearInputOp>(&op)) linear_input_saved(*li, x, out);
    if (const auto* a = std::get_if<AttentionOp>(&op)) attention_saved(*a, m, setup, x, masked, out);
    if (const auto* p = std::get_if<MlpOp>(&op)) mlp_saved(*p, x, out);
  }
  if (setup.lora.enabled()) lora_saved(m, setup, x, out);
  te_fp8_saved(setup, x, out);
  return out;
}

Bytes sum_bytes(const std::vector<SavedTensor>& parts) {
  Bytes total = 0;
  for (const auto& p : parts) total = checked_add(total, p.term.bytes);
  return total;
}

// torchtitan's op-level SAC policy (parallelize_llama.py _apply_ac_to_transformer_block):
// MUST_SAVE the outputs of aten.mm and of the SDPA kernels, except every second mm of the
// block; everything else is recomputed from the block input. The layer's matmuls, in forward
// order, are its Linear weights; odd ones are kept. A Linear with a bias is aten.addmm
// (ATen native/Linear.cpp linear → _flatten_nd_linear / addmm; GPT-2's Conv1D calls
// torch.addmm): not in _save_list and not counted, so it is recomputed (FINDINGS §41).
Bytes op_sac_kept(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Activations& act, Bytes layer_input) {
  const char* policy = "torchtitan 9dec370 parallelize_llama.py _apply_ac_to_transformer_block (_save_list: aten.mm and the SDPA "
                       "kernels, every second mm recomputed); torch/utils/checkpoint.py _CachingTorchDispatchMode";
  act.kept_parts.push_back({"block.input", layer_input, fmt::format("{}·T·h: the checkpoint's input", x.r), policy, false});
  std::size_t index = 0;
  const auto params = family_spec(m.family).parameters(m);
  for (const auto& t : params) {
    if (t.scope != ParamScope::kLayer || !t.matmul || t.cols == 1) continue;
    const std::string mod = t.name.substr(0, t.name.size() - std::string(".weight").size());
    if (has_bias(params, t)) {
      act.kept_parts.push_back({mod + ".output", 0, "0: biased Linear = aten.addmm, not in _save_list nor counted (recomputed)",
                                "ATen native/Linear.cpp linear (_flatten_nd_linear → addmm); " + std::string(policy), false});
      continue;
    }
    const bool save = index++ % 2 == 0;
    act.kept_parts.push_back({mod + ".output", save ? checked_product({x.e, x.T, t.rows}) : 0,
                              fmt::format("{}: aten.mm #{} of the block ({})", save ? fmt::format("{}·T·{}", x.e, t.rows) : "0", index,
                                          save ? "odd: MUST_SAVE" : "even: PREFER_RECOMPUTE"),
                              policy, false});
  }
  for (const auto& p : act.layer_parts) {
    if (setup.attention == Attention::kSdpa && (p.name == "attn.out" || p.name == "attn.logsumexp")) {
      act.kept_parts.push_back({p.name, p.bytes, p.formula + " (the SDPA kernel's outputs: MUST_SAVE)", policy, false});
    }
  }
  Bytes kept = 0;
  for (const auto& t : act.kept_parts) kept = checked_add(kept, t.bytes);
  return kept;
}

// Eager attention's saved q, k and v (after repeat_kv, or matmul's copies): what selective
// recomputation gives up for the checkpoint's own inputs. SDPA saves the inputs themselves.
Bytes eager_qkv_saved(const TrainingSetup& setup, const Activations& act) {
  if (!materialises_scores(setup.attention)) return 0;
  Bytes total = 0;
  for (const auto& p : act.layer_parts) {
    if (p.name == "attn.q" || p.name == "attn.q_fp32" || p.name.starts_with("attn.k") || p.name.starts_with("attn.v") || p.name == "attn.qkv_storage") {
      total = checked_add(total, p.bytes);
    }
  }
  return total;
}

// What a checkpoint around eager_attention_forward keeps: q and k after RoPE, before repeat_kv
// (fp32 under autocast: RoPE multiplies by fp32 cos/sin), and v as v_proj made it (measured on
// transformers 5.24 / torch 2.15, tools/measure/FINDINGS.md §3; Megatron's selective
// recomputation, Korthikanti et al. 2022, recomputes the same core attention).
Bytes core_attention_inputs(const TrainingSetup& setup, const Dims& x) {
  if (!materialises_scores(setup.attention)) return 0;
  const Bytes qk = x.amp ? 4 : x.e;
  return checked_add(checked_product({qk, x.T, x.qd + x.kvd}), checked_product({x.e, x.T, x.kvd}));
}

// Full checkpointing of every K-th layer (torchtitan distributed/activation_checkpoint.py
// _apply_layer_sac: a running count per block, checkpoint_wrapper when count % K == 0, so
// blocks K, 2K, ... of 1..L; torchtune's ac_option does the same). floor(L/K) layers keep their
// input, the others all they save. kept_per_layer / recompute describe the top layer, the
// first in backward: checkpointed (its recompute beside every other layer's stack) when K
// divides L; else it keeps everything and the checkpointed layers below recompute only after
// the layers above have released theirs.
Bytes every_kth_layer(const ModelConfig& m, const TrainingSetup& setup, Bytes layer_input, Bytes masked_layers,
                      Bytes mask_per_masked_layer, Activations& act) {
  const Bytes L = m.num_layers;
  const Bytes checkpointed = L / setup.ac_every;
  const Bytes plain = L - checkpointed;
  // Masked layers spread evenly: the un-checkpointed share keeps its mask copies.
  const Bytes plain_masked = masked_layers == 0 ? 0 : masked_layers * plain / L;
  const bool top_checkpointed = L % setup.ac_every == 0;
  act.kept_per_layer = top_checkpointed ? layer_input : act.per_layer;
  act.recompute = top_checkpointed ? checked_add(act.per_layer, mask_per_masked_layer) : 0;
  return checked_add(checked_add(checked_mul(checkpointed, layer_input), checked_mul(plain, act.per_layer)),
                     checked_mul(plain_masked, mask_per_masked_layer));
}

// What each layer keeps under the checkpointing mode, what its backward recomputes, and the
// stack of all layers.
Bytes apply_checkpointing(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Bytes masked_layers,
                          Bytes mask_per_masked_layer, Activations& act) {
  const Bytes layer_input = checked_product({x.r, x.Tn, x.h});
  const Bytes L = m.num_layers;
  switch (setup.grad_ckpt) {
    case GradCkpt::kNone:
      act.kept_per_layer = act.per_layer;
      return checked_add(checked_mul(L, act.per_layer), checked_mul(masked_layers, mask_per_masked_layer));
    case GradCkpt::kFull:
      if (setup.ac_every > 1) return every_kth_layer(m, setup, layer_input, masked_layers, mask_per_masked_layer, act);
      act.kept_per_layer = layer_input;
      act.recompute = checked_add(act.per_layer, mask_per_masked_layer);
      return checked_mul(L, layer_input);
    case GradCkpt::kSelective: {
      // The core attention is recomputed; its checkpoint keeps q, k, v as they enter it.
      const Bytes core_qkv = eager_qkv_saved(setup, act);
      const Bytes inputs = core_attention_inputs(setup, x);
      act.kept_per_layer = act.per_layer - act.s2_per_layer - core_qkv + inputs;
      act.recompute = act.s2_per_layer + core_qkv + mask_per_masked_layer;
      return checked_mul(L, act.kept_per_layer);
    }
    case GradCkpt::kOpSac: {
      const Bytes kept = compiles_blocks_apart(setup.compile) ? compiled_op_sac_kept(m, x, layer_input, act)
                                                              : op_sac_kept(m, setup, x, act, layer_input);
      act.kept_per_layer = kept;
      act.recompute = act.per_layer > kept - layer_input ? act.per_layer - (kept - layer_input) : 0;
      return checked_mul(L, kept);
    }
  }
  return 0;
}

// Score-sized buffers alive inside eager attention's forward beyond what the layer saves.
// `softmax(scores + mask, dtype=float32)` holds the masked scores (e), their fp32 conversion
// when they are bf16 (softmax with a dtype converts its input first: aten/src/ATen/native/
// SoftMax.cpp softmax) and the fp32 result (4): 8·a·s²·b in fp32, 10·a·s²·b in bf16. A
// checkpointed layer (forward under no_grad) saves none of them; without checkpointing the
// softmax is saved (in the stack) and the masked scores remain, e·a·s²·b (measured on
// transformers 5.24 / torch 2.15 at seq 4096, tools/measure/FINDINGS.md §7).
Bytes eager_forward_transient(const TrainingSetup& setup, const Dims& x) {
  if (setup.attention == Attention::kSdpaMath) return sdpa_math_forward_transient(setup, x);
  // A compiled model's forward ends at its saved set (measured): no score-sized temporaries remain.
  if (setup.attention != Attention::kEager || setup.compile == Compile::kModel) return 0;
  const Bytes converted = x.e == 4 ? 0 : 4;
  const Bytes per_element = setup.grad_ckpt == GradCkpt::kNone ? x.e : x.e + converted + 4;
  return checked_product({per_element, x.a, x.s, x.s, x.b});
}

// One layer without checkpointing: its saved tensors, the s² part, what its backward has
// released at the MLP and attention peaks, and its forward/backward working sets.
void describe_layer(const std::vector<SavedTensor>& saved, const MlpOp& mlp, const ModelConfig& m, const TrainingSetup& setup,
                    const Dims& x, Activations& act) {
  for (const auto& p : saved) {
    act.layer_parts.push_back(p.term);
    act.per_layer = checked_add(act.per_layer, p.term.bytes);
    if (p.grows_s2) act.s2_per_layer += p.term.bytes;
    if (p.region == BackwardRegion::kOutput) act.freed_before_mlp_peak += p.term.bytes;
    if (p.region == BackwardRegion::kOutput || p.region == BackwardRegion::kAfterAttention) act.freed_before_attn_peak += p.term.bytes;
  }
  act.mlp_backward_transient = mlp_backward_transient(mlp, x);
  act.attn_backward_transient = attention_backward_transient(m, setup, x);
  act.backward_transient = std::max(act.mlp_backward_transient, act.attn_backward_transient);
  act.forward_transient = eager_forward_transient(setup, x);
}

// The sequence-classification head on the first token: BertPooler (dense, tanh) and classifier,
// or RobertaClassificationHead (dense, tanh, out_proj); dropout 0 saves nothing. The dense
// Linear saves its input, hidden_states[:, 0], a view that keeps the whole last hidden state
// alive (under autocast its bf16 cast, a new b × h tensor, instead); tanh saves its output,
// which the last Linear saves too. Both are released by the head's backward.
void describe_classifier(const Dims& x, Activations& act) {
  const char* src = "transformers models/bert/modeling_bert.py BertPooler, BertForSequenceClassification; "
                    "models/roberta/modeling_roberta.py RobertaClassificationHead; torch nn.Linear saves its input";
  const Bytes pooled = x.amp ? checked_product({2, x.b, x.h}) : checked_product({x.r, x.T, x.h});
  act.outside_parts.push_back({"cls_head.first_token_input", pooled,
                               x.amp ? "2·b·h: autocast's bf16 copy of the first-token rows, saved by the dense Linear"
                                     : fmt::format("{}·T·h: the last hidden state, kept whole by the first-token view the dense Linear saves", x.r),
                               src});
  act.outside_parts.push_back({"cls_head.tanh_output", checked_product({x.e, x.b, x.h}),
                               fmt::format("{}·b·h: tanh's output, saved by tanh and by the classifier Linear", x.e), src});
  act.final_norm_saved += checked_add(pooled, checked_product({x.e, x.b, x.h}));
}

// Encoders (BERT, RoBERTa): the int64 ids the embeddings save, and the MLM head's transform
// (its Linear saves the last hidden state, GELU saves the Linear's output) before its LayerNorm.
void describe_encoder_outside(const LayerSpec& spec, const Dims& x, Activations& act) {
  if (spec.encoder_ids == EncoderIds::kBert) {
    act.outside_parts.push_back({"token_type_ids", checked_mul(8, x.s), "8·s: int64 token types gathered from the zero buffer, saved by their embedding",
                                 "transformers models/bert/modeling_bert.py BertEmbeddings.forward (torch.gather; position_ids are a buffer view)"});
  } else if (spec.encoder_ids == EncoderIds::kRoberta) {
    act.outside_parts.push_back({"position_and_token_type_ids", checked_mul(16, x.T),
                                 "2 × 8·T: int64 positions from the input ids and token types gathered by them, saved by the embeddings",
                                 "transformers models/roberta/modeling_roberta.py create_position_ids_from_input_ids, RobertaEmbeddings.forward"});
  }
  if (spec.cls_head) return describe_classifier(x, act);
  if (!spec.mlm_head) return;
  const char* src = "transformers models/bert/modeling_bert.py BertPredictionHeadTransform (dense, gelu, LayerNorm); torch nn.Linear saves its input";
  const Bytes in = x.amp ? 2 : x.r;
  act.outside_parts.push_back({"mlm_head.dense_input", checked_product({in, x.T, x.h}),
                               fmt::format("{}·T·h: the last hidden state{}, saved by the transform Linear", in, x.amp ? " cast to bf16" : ""), src});
  act.outside_parts.push_back({"mlm_head.gelu_input", checked_product({x.e, x.T, x.h}),
                               fmt::format("{}·T·h: the transform Linear's output, saved by GELU", x.e), src});
  act.final_norm_saved += checked_product({in + x.e, x.T, x.h});
}

// Outside the layers: embedding ids, RoPE tables, the final norm. The fused linear
// cross-entropy computes lm_head's input gradient in its forward and saves neither the hidden
// states nor the logits (Liger-Kernel ops/fused_linear_cross_entropy.py), so nobody saves the
// final norm's output then; a frozen lm_head (LoRA) saves no input and a frozen final norm
// weight saves nothing either.
void describe_outside(const LayerSpec& spec, const Dims& x, bool head_saves_input, bool frozen_head, Activations& act) {
  act.outside_parts.push_back({"input_ids", checked_mul(8, x.T), "8·T: int64 token ids saved by the embedding backward",
                               "torch nn.functional.embedding (embedding_backward takes indices)"});
  const Bytes table = spec.rope_tables_fp32 ? 4 : x.r;
  if (spec.rope_complex) {
    act.outside_parts.push_back({"rope_freqs_cis", checked_product({4, x.T, x.rot}), "8·T·rotary_dim/2: one complex64 freqs_cis table, shared by every layer",
                                 "transformers models/deepseek_v2/modeling_deepseek_v2.py DeepseekV2RotaryEmbedding.forward (torch.polar), apply_rotary_emb"});
  } else if (spec.rope_tables == 1 && spec.rope_half_tables) {
    act.outside_parts.push_back({"rope_cos_sin", checked_product({2, table, x.T, x.rot / 2}),
                                 fmt::format("2·{}·T·rotary_dim/2: cos and sin tables of the frequencies (no cat), shared by every layer", table),
                                 "transformers models/gpt_oss/modeling_gpt_oss.py GptOssRotaryEmbedding.forward (emb = freqs)"});
  } else if (spec.rope_tables == 1) {
    act.outside_parts.push_back({"rope_cos_sin", checked_product({2, table, x.T, x.rot}),
                                 fmt::format("2·{}·T·rotary_dim: cos and sin tables, shared by every layer", table),
                                 "transformers LlamaRotaryEmbedding.forward (cast to the hidden dtype; OLMo2 keeps fp32)"});
  } else if (spec.rope_tables > 1) {
    act.outside_parts.push_back({"rope_cos_sin", checked_product({spec.rope_tables, 2, table, x.T, x.rot}),
                                 fmt::format("{}×2·{}·T·rotary_dim: cos and sin tables per layer type (global, local)", spec.rope_tables, table),
                                 "transformers models/gemma3/modeling_gemma3.py Gemma3TextModel (position_embeddings per layer type)"});
  }
  if (spec.embedding_layernorm) {
    std::vector<SavedTensor> norm;
    norm_saved({"embedding_layernorm", NormKind::kLayerNorm, x.h, 1, 0, false, false, BackwardRegion::kNone}, x, norm);
    for (const auto& p : norm) act.outside_parts.push_back(p.term);
  }
  if (spec.learned_positions) {
    act.outside_parts.push_back({"position_ids", checked_mul(8, x.s), "8·s: int64 position ids saved by the position embedding's backward",
                                 "transformers models/gpt2/modeling_gpt2.py GPT2Model.forward (wpe(position_ids))"});
  }
  describe_encoder_outside(spec, x, act);
  std::vector<SavedTensor> norm;
  if (spec.cls_head) {  // no final norm: the classification head reads the last layer's output
    for (const auto& p : act.outside_parts) act.outside = checked_add(act.outside, p.bytes);
    return;
  }
  const bool head_input = head_saves_input && !frozen_head;
  norm_saved({"final_norm", spec.final_norm, x.h, 1, head_input ? Bytes{1} : Bytes{0}, false, false, BackwardRegion::kNone, frozen_head},
             x, norm);
  for (const auto& p : norm) {
    act.outside_parts.push_back(p.term);
    act.final_norm_saved += p.term.bytes;
  }
  for (const auto& p : act.outside_parts) act.outside = checked_add(act.outside, p.bytes);
}

// Outside the layers: as eager modules save it, or as the compiled graph does (ops_compiled.cpp).
void outside_of(const LayerSpec& spec, const TrainingSetup& setup, const Dims& x, Activations& act) {
  if (setup.compile != Compile::kNone) return compiled_outside(spec, setup, x, act);
  describe_outside(spec, x, setup.loss != LossImpl::kFused, setup.lora.enabled(), act);
}

// Shared masks alive during the forward only: eager builds a 4-D float causal mask (plus a
// sliding one when the model mixes layer kinds); SDPA gets boolean masks for masked layers.
Term forward_masks(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Bytes masked_layers, bool bidirectional) {
  if (setup.compile == Compile::kModel) {
    return component_term(ComponentId::kAttentionMask, 0, "inside the compiled graph: what backward needs of the mask is in the saved set",
                          "torch/_functorch/partitioners.py (measured: tools/measure/FINDINGS.md §27)", true);
  }
  if (setup.attention == Attention::kEager && bidirectional) {
    // create_bidirectional_mask returns None without padding; with it, a 4-D float padding mask.
    return component_term(ComponentId::kAttentionMask, setup.explicit_mask ? checked_product({x.r, x.b, x.s, x.s}) : 0,
                          setup.explicit_mask ? fmt::format("{}·b·s²: 4-D float padding mask in the hidden dtype", x.r)
                                              : "no mask (bidirectional encoder, no padding)",
                          "transformers masking_utils create_bidirectional_mask", true);
  }
  if (setup.attention == Attention::kEager) {
    const Bytes kinds = (m.sliding_layers > 0 && m.sliding_layers < m.num_layers) ? 2 : 1;
    return component_term(ComponentId::kAttentionMask, checked_product({kinds, x.r, x.b, x.s, x.s}),
                          fmt::format("{} × {}·b·s²: 4-D float causal mask{} in the hidden dtype", kinds, x.r,
                                      kinds > 1 ? "s (full and sliding)" : ""),
                          "transformers masking_utils (create_causal_mask / sliding window)", true);
  }
  if (masked_layers == 0) {
    return component_term(ComponentId::kAttentionMask, 0, "no materialised mask (SDPA is_causal, no padding)",
                          "transformers masking_utils (create_causal_mask / sliding window)", true);
  }
  return component_term(ComponentId::kAttentionMask, checked_product({1, x.b, x.s, x.s}),
                        setup.explicit_mask ? "1·b·s²: boolean attention mask (padding / packed documents)"
                                            : "1·b·s²: boolean mask (sliding window past the window, or the model always builds one)",
                        "transformers masking_utils (create_causal_mask / sliding window)", true);
}

// Saved outside the layers besides ids, tables and the final norm: the MoE aux loss (computed
// with the loss) and FlexAttention's BlockMask (one per forward, saved by every layer).
void add_outside_extras(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Activations& act) {
  if (m.num_experts > 0 && m.output_router_logits) {
    act.outside_parts.push_back(moe_aux_loss_saved(m, x));
    act.outside = checked_add(act.outside, act.outside_parts.back().bytes);
  }
  for (const Term& mask : {flex_block_mask(setup, x), embedding_dropout_saved(setup, x)}) {
    if (mask.bytes == 0) continue;
    act.outside_parts.push_back(mask);
    act.outside = checked_add(act.outside, mask.bytes);
  }
}

// What the kernel set changes, for the stack's source line (each fused op's saved tensors are
// listed in per_layer_parts).
std::string kernel_note(const KernelSet& k) {
  if (!k.any()) return "";
  return fmt::format("; kernels {} (Liger-Kernel){}{}{}", describe(k), k.fused_norm ? "; norms: ops/rms_norm.py, ops/layer_norm.py" : "",
                     k.fused_swiglu ? "; GLU: ops/swiglu.py, ops/geglu.py" : "",
                     k.fused_rope ? "; RoPE: ops/rope.py, in place on q and k, saves only cos/sin (the same set as HF's RoPE)" : "");
}

// DeepSeek's first_k_dense_replace layers save a dense MLP instead of the MoE block. Without checkpointing
// or with selective checkpointing (same attention) each of them keeps `dense` instead of `per_layer`; full
// checkpointing keeps layer inputs either way. The top layer (the first in backward) is an MoE layer, so the
// backward working set stays the MoE layer's.
Bytes with_dense_layers(const LayerSpec& spec, const ModelConfig& m, const TrainingSetup& setup, const Dims& x, Bytes kept_total,
                        Activations& act) {
  LayerSpec dense_spec = spec;
  dense_spec.ops = spec.dense_ops;
  const auto saved = layer_saved(dense_spec, m, setup, x, false);
  act.dense_layers = spec.dense_layers;
  act.dense_per_layer = sum_bytes(saved);
  for (const auto& p : saved) {
    if (p.term.name.starts_with("mlp.") || p.term.name.starts_with("post_attention_layernorm")) act.dense_layer_parts.push_back(p.term);
  }
  const bool per_layer_kept = setup.grad_ckpt == GradCkpt::kNone || setup.grad_ckpt == GradCkpt::kSelective;
  if (!per_layer_kept || act.dense_per_layer >= act.per_layer) return kept_total;
  return kept_total - checked_mul(spec.dense_layers, act.per_layer - act.dense_per_layer);
}

}  // namespace

Activations activations(const ModelConfig& m, const TrainingSetup& setup) { return activations(m, setup, 1); }

Activations activations(const ModelConfig& m, const TrainingSetup& requested, std::uint64_t sequence_shards) {
  if (m.encoder_decoder()) return t5_activations(m, requested);  // two stacks, two lengths (encoder_decoder.cpp accepts what it models)
  const LayerSpec family_layer = family_spec(m.family).layer(m);
  // A family without an SDPA path in transformers (BLOOM) runs eager attention whatever is asked,
  // as from_pretrained does when attn_implementation is not given.
  const bool forced_eager = attention_of(family_layer)->eager_only && requested.attention == Attention::kSdpa;
  TrainingSetup setup = requested;
  if (forced_eager) setup.attention = Attention::kEager;
  Dims x = dims_of(m, setup);
  x.Tn = ceil_div(x.T, sequence_shards);
  const LayerSpec spec = setup.lora.enabled() ? lora_layer_spec(family_layer, setup, x) : family_layer;
  Activations act;
  const Bytes masked_layers = setup.attention == Attention::kSdpa ? sdpa_masked_layers(m, setup, spec) : 0;
  // The layer as SDPA runs it without a mask; a masked layer adds the difference (its float
  // mask copy, K/V repeated for GQA, the padded logsumexp).
  describe_layer(layer_saved(spec, m, setup, x, false), *mlp_of(spec), m, setup, x, act);
  add_dequant_transients(m, setup, x, act);
  add_dora_transient(m, setup, x, act);
  Bytes mask_per_masked_layer = 0;
  if (masked_layers > 0) {
    const auto masked = layer_saved(spec, m, setup, x, true);
    mask_per_masked_layer = sum_bytes(masked) - act.per_layer;
    for (const auto& p : masked) {
      if (p.term.name == "attn.mask_float") act.mask_copy_per_layer = p.term.bytes;
    }
  }
  act.masked_layers = masked_layers;
  act.mask_per_masked_layer = mask_per_masked_layer;
  const Bytes kept_per_kind = apply_checkpointing(m, setup, x, masked_layers, mask_per_masked_layer, act);
  const Bytes kept_total = spec.dense_layers > 0 ? with_dense_layers(spec, m, setup, x, kept_per_kind, act) : kept_per_kind;
  outside_of(spec, setup, x, act);
  add_outside_extras(m, setup, x, act);

  const bool every_kth = setup.grad_ckpt == GradCkpt::kFull && setup.ac_every > 1;
  act.stack = component_term(ComponentId::kActivations, checked_add(kept_total, act.outside),
                             every_kth ? fmt::format("⌊L/K⌋ × layer input + (L − ⌊L/K⌋) × per_layer + outside = {} × {} + {} × {} + {} "
                                                     "(every K-th layer checkpointed, K = {})",
                                                     m.num_layers / setup.ac_every, group_digits(checked_product({x.r, x.T, x.h})),
                                                     m.num_layers - m.num_layers / setup.ac_every, group_digits(act.per_layer),
                                                     group_digits(act.outside), setup.ac_every) :
                             fmt::format("L × kept_per_layer + outside = {} × {} + {}{}{}", m.num_layers, group_digits(act.kept_per_layer),
                                         group_digits(act.outside),
                                         act.dense_layers > 0 && kept_total != kept_per_kind
                                             ? fmt::format(" − {} dense layers × ({} − {} their dense MLP saves)", act.dense_layers,
                                                           group_digits(act.per_layer), group_digits(act.dense_per_layer))
                                             : "",
                                         mask_per_masked_layer > 0 && setup.grad_ckpt == GradCkpt::kNone
                                             ? fmt::format(" + {} masked layers × {}", masked_layers, group_digits(mask_per_masked_layer))
                                             : ""),
                             std::string(forced_eager ? "per-op derivation of the HF decoder layer; eager attention: transformers has no SDPA path for this family"
                                                      : "per-op derivation of the HF decoder layer (see per_layer_parts); checkpointing: torch.utils.checkpoint keeps layer inputs") +
                                 kernel_note(setup.kernels),
                             true);
  act.forward_masks = forward_masks(m, setup, x, masked_layers, attention_of(spec)->bidirectional);
  act.backward_working = component_term(
      ComponentId::kLayerBackward, checked_add(checked_add(act.kept_per_layer, act.recompute), act.backward_transient),
      fmt::format("the layer in backward: kept {} + recomputed {} − released so far + gradient buffers "
                  "(MLP peak {}, attention peak {})",
                  group_digits(act.kept_per_layer), group_digits(act.recompute), group_digits(act.mlp_backward_transient),
                  group_digits(act.attn_backward_transient)),
      "derived from the backward of the HF MLP and the SDPA/eager attention backward (flash dq_accum fp32)", true);
  if (setup.offload_activations) apply_activation_offload(m, setup, x, spec, act);
  return act;
}

}  // namespace vramcalc
