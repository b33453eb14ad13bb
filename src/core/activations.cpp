// Activation memory, derived from what autograd saves in the HF decoder layer
// (transformers/models/llama/modeling_llama.py and the gemma, gemma2, phi3, qwen2, mistral
// variants). Rules used throughout (modeling.md §4.2):
//   - an op saves an input only when the *other* input needs grad (mul by a constant saves
//     the constant; a Linear with a trainable weight saves its input);
//   - .to(dtype), add, view/transpose and scalar mul save nothing; pow, rsqrt, silu/gelu,
//     softmax, log_softmax and tanh save their input or output;
//   - tensors that share storage are counted once.
// Symbols: T = s·b tokens, h hidden, qd = a·d, kvd = k·d, I intermediate, a heads,
// r = residual-stream bytes (fp32 under autocast), e = bytes of matmul inputs/outputs.
#include <vramcalc/activations.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/model_states.hpp>

namespace vramcalc {
namespace {

constexpr const char* kLlamaSrc = "transformers models/llama/modeling_llama.py";
constexpr const char* kGemmaSrc = "transformers models/gemma/modeling_gemma.py GemmaRMSNorm";

struct Dims {
  Bytes T, h, qd, kvd, I, a, s, b, d, L;
  Bytes r, e;  // residual and compute bytes
  bool amp;
};

bool gemma_norm(const ModelConfig& m) { return m.family == Family::kGemma || m.family == Family::kGemma2; }
bool fused_projections(const ModelConfig& m) { return m.family == Family::kPhi3; }

// Layers whose SDPA call gets an explicit mask: all of them when the batch needs one (padding,
// packed documents), else sliding-window layers once s exceeds the window (HF masking_utils
// cannot skip the mask then). Otherwise SDPA runs is_causal with no mask.
Bytes sdpa_masked_layers(const ModelConfig& m, const TrainingSetup& setup) {
  if (setup.explicit_mask) return m.num_layers;
  if (m.sliding_window == 0 || setup.seq_len <= m.sliding_window) return 0;
  return m.sliding_layers;
}

// An RMSNorm in front of Linears ("pre" norm) or in front of a residual add ("post" norm).
// `consumers` = how many Linears read the output (autocast casts it once per Linear).
void add_norm(std::vector<Term>& parts, const ModelConfig& m, const Dims& x, const std::string& name, bool pre,
              Bytes consumers) {
  const char* src = gemma_norm(m) ? kGemmaSrc : kLlamaSrc;
  parts.push_back({name + ".fp32_input", checked_product({4, x.T, x.h}),
                   fmt::format("4·T·h: fp32 copy of the input saved by pow and mul ({} B × {} × {})", 4, x.T, x.h), src});
  parts.push_back({name + ".rstd", checked_product({4, x.T}), fmt::format("4·T: fp32 rsqrt(var + eps) saved by mul"), src});
  // LlamaRMSNorm casts x·rstd back to the input dtype before `weight *` (saves that cast);
  // GemmaRMSNorm multiplies by (1 + weight) in fp32 (saves the fp32 normalised tensor).
  const Bytes normalized_bytes = gemma_norm(m) ? 4 : x.r;
  parts.push_back({name + ".normalized", checked_product({normalized_bytes, x.T, x.h}),
                   fmt::format("{}·T·h: normalised input saved by the trainable weight multiply", normalized_bytes), src});
  if (!pre) return;
  if (x.amp) {
    // Autocast casts the fp32 norm output separately for each Linear that reads it.
    parts.push_back({name + ".output_casts", checked_product({consumers, 2, x.T, x.h}),
                     fmt::format("{}×2·T·h: bf16 autocast casts of the output, one per Linear", consumers),
                     "aten/src/ATen/autocast_mode.cpp cached_cast (activations are not cached)"});
  } else {
    parts.push_back({name + ".output", checked_product({x.r, x.T, x.h}),
                     fmt::format("{}·T·h: norm output, saved once by the Linears that read it", x.r), src});
  }
}

void add_attention(std::vector<Term>& parts, const ModelConfig& m, const TrainingSetup& setup, const Dims& x,
                   bool masked_sdpa) {
  const bool fused = fused_projections(m);
  const Bytes n_rep = m.num_heads / m.num_kv_heads;
  const Bytes qkv_storage = checked_product({x.e, x.T, x.qd + 2 * x.kvd});
  if (setup.attention == Attention::kSdpa) {
    const char* src = "torch SDPA flash/mem-efficient kernels save q, k, v, out, logsumexp; transformers integrations/sdpa_attention.py";
    // With an explicit mask HF does not use SDPA's native GQA (use_gqa_in_sdpa is false when
    // attention_mask is given), so k and v reach the kernel repeated to a heads.
    const bool repeated = masked_sdpa && n_rep > 1;
    parts.push_back({"attn.q_rope", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q after RoPE (new tensor; RoPE's muls save only cos/sin)", x.e), src});
    if (repeated) {
      parts.push_back({"attn.k_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: k after RoPE, repeated to a heads (repeat_kv: masked SDPA)", x.e), src});
      parts.push_back({"attn.v_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: v repeated to a heads (repeat_kv: masked SDPA)", x.e), src});
    } else {
      parts.push_back({"attn.k_rope", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: k after RoPE (GQA native, not repeated)", x.e), src});
      if (fused) {
        parts.push_back({"attn.qkv_storage", qkv_storage,
                         fmt::format("{}·T·(qd+2·kvd): v is a view of the fused qkv_proj output, keeping all of it", x.e),
                         "transformers models/phi3/modeling_phi3.py Phi3Attention (qkv sliced into views)"});
      } else {
        parts.push_back({"attn.v", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: v projection output", x.e), src});
      }
    }
    parts.push_back({"attn.out", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: kernel output, also o_proj's saved input", x.e), src});
    // Flash pads nothing on the logsumexp; the mem-efficient kernel (fp32, or with a mask)
    // rounds the sequence up to a multiple of 32.
    const bool efficient = x.e == 4 || masked_sdpa;
    const Bytes s_lse = efficient ? ceil_div(x.s, 32) * 32 : x.s;
    parts.push_back({"attn.logsumexp", checked_product({4, x.b, x.a, s_lse}),
                     fmt::format("4·b·a·s{}: fp32 softmax statistics", efficient ? "₃₂ (s rounded up to 32)" : ""), src, true});
    if (masked_sdpa) {
      parts.push_back({"attn.mask_float", checked_product({x.e, x.b, x.s, x.s}),
                       fmt::format("{}·b·s²: boolean mask converted to the query dtype and saved by the kernel", x.e),
                       "aten/src/ATen/native/transformers/attention.cpp convert_boolean_attn_mask; efficient-attention backward takes the bias",
                       true});
    }
    return;
  }
  // Eager: transformers eager_attention_forward. matmul folds (b, heads) into one batch dim
  // and copies an operand whose strides do not allow it; at batch 1 that fold is a view, so a
  // single KV head expanded by repeat_kv (stride 0) and a fused-qkv view of v are saved as
  // they are, without a copy.
  const char* src = "transformers models/llama/modeling_llama.py eager_attention_forward";
  const bool batch_one = x.b == 1;
  parts.push_back({"attn.q", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q after RoPE, saved by q·kᵀ", x.e), src});
  if (batch_one && n_rep > 1 && m.num_kv_heads == 1) {
    // Under autocast k is fp32 (RoPE with fp32 cos/sin) and the matmul's bf16 cast of the
    // stride-0 view materialises all heads; v is already bf16 and stays a view.
    const Bytes k_width = x.amp ? x.qd : x.kvd;
    parts.push_back({"attn.k", checked_product({x.e, x.T, k_width}),
                     x.amp ? fmt::format("{}·T·qd: autocast's bf16 cast of the repeated fp32 k materialises every head", x.e)
                           : fmt::format("{}·T·kvd: k after RoPE; repeat_kv of one KV head is a stride-0 view at batch 1", x.e),
                     src});
    parts.push_back({"attn.v", checked_product({x.e, x.T, x.kvd}),
                     fmt::format("{}·T·kvd: v; repeat_kv of one KV head is a stride-0 view at batch 1", x.e), src});
  } else {
    parts.push_back({"attn.k_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: k repeated to a heads (repeat_kv), saved by q·kᵀ", x.e), src});
    if (fused && n_rep == 1 && batch_one) {
      parts.push_back({"attn.qkv_storage", qkv_storage,
                       fmt::format("{}·T·(qd+2·kvd): v (a view of the fused qkv output) saved by probs·v", x.e),
                       "transformers models/phi3/modeling_phi3.py"});
    } else {
      parts.push_back({"attn.v_repeated", checked_product({x.e, x.T, x.qd}),
                       fmt::format("{}·T·qd: v at a heads (repeat_kv, or matmul's copy), saved by probs·v", x.e), src});
    }
  }
  parts.push_back({"attn.softmax_fp32", checked_product({4, x.a, x.s, x.s, x.b}), "4·a·s²·b: fp32 softmax output (saved by softmax backward)", src});
  if (x.e != 4) {
    parts.push_back({"attn.probs_bf16", checked_product({2, x.a, x.s, x.s, x.b}), "2·a·s²·b: bf16 probabilities saved by probs·v", src});
  }
  if (m.attn_logit_softcapping > 0.0) {
    parts.push_back({"attn.softcap_tanh", checked_product({x.e, x.a, x.s, x.s, x.b}),
                     fmt::format("{}·a·s²·b: tanh output of the attention-logit soft-cap", x.e),
                     "transformers models/gemma2/modeling_gemma2.py eager_attention_forward (softcap)"});
  }
  parts.push_back({"attn.out_contiguous", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: transpose().contiguous() copy, o_proj's saved input", x.e), src});
}

void add_mlp(std::vector<Term>& parts, const ModelConfig& m, const Dims& x) {
  const char* src = fused_projections(m) ? "transformers models/phi3/modeling_phi3.py Phi3MLP (gate_up_proj chunked)"
                                         : "transformers models/llama/modeling_llama.py LlamaMLP";
  if (fused_projections(m)) {
    parts.push_back({"mlp.gate_up", checked_product({x.e, x.T, 2 * x.I}), fmt::format("{}·T·2I: fused gate_up output (gate saved by the activation, up by the product)", x.e), src});
  } else {
    parts.push_back({"mlp.gate", checked_product({x.e, x.T, x.I}), fmt::format("{}·T·I: gate_proj output saved by the activation", x.e), src});
    parts.push_back({"mlp.up", checked_product({x.e, x.T, x.I}), fmt::format("{}·T·I: up_proj output saved by the product", x.e), src});
  }
  parts.push_back({"mlp.act", checked_product({x.e, x.T, x.I}), fmt::format("{}·T·I: activation output saved by the product", x.e), src});
  parts.push_back({"mlp.product", checked_product({x.e, x.T, x.I}), fmt::format("{}·T·I: act·up, down_proj's saved input", x.e), src});
}

Bytes sum_bytes(const std::vector<Term>& parts) {
  Bytes total = 0;
  for (const auto& p : parts) total = checked_add(total, p.bytes);
  return total;
}

bool grows_with_s2(const Term& t) {
  return t.name == "attn.softmax_fp32" || t.name == "attn.probs_bf16" || t.name == "attn.softcap_tanh" ||
         t.name == "attn.mask_float";
}

}  // namespace

Activations activations(const ModelConfig& m, const TrainingSetup& setup) {
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const Bytes T = checked_mul(setup.seq_len, setup.micro_batch);
  const Dims x{T, m.hidden_size, m.q_dim(), m.kv_dim(), m.intermediate_size, m.num_heads,
               setup.seq_len, setup.micro_batch, m.head_dim, m.num_layers, pb.residual, pb.compute,
               setup.precision == Precision::kAmp};
  Activations act;

  // --- one decoder layer, no checkpointing -------------------------------------------------
  // The layer is averaged over layer kinds: sliding-window layers may carry a mask term.
  const Bytes masked_layers = setup.attention == Attention::kSdpa ? sdpa_masked_layers(m, setup) : 0;
  const bool fused = fused_projections(m);
  std::vector<Term> parts;
  add_norm(parts, m, x, "input_layernorm", true, fused ? 1 : 3);
  add_attention(parts, m, setup, x, false);
  if (m.family == Family::kGemma2) {
    add_norm(parts, m, x, "post_attention_layernorm", false, 0);
    add_norm(parts, m, x, "pre_feedforward_layernorm", true, 2);
    add_norm(parts, m, x, "post_feedforward_layernorm", false, 0);
  } else {
    add_norm(parts, m, x, "post_attention_layernorm", true, fused ? 1 : 2);
  }
  add_mlp(parts, m, x);
  act.per_layer = sum_bytes(parts);
  for (const auto& p : parts) {
    if (grows_with_s2(p)) act.s2_per_layer += p.bytes;
  }
  // Sliding-window layers under SDPA with s > window also save a float copy of their mask.
  Bytes mask_per_masked_layer = 0;
  if (masked_layers > 0) {
    std::vector<Term> masked;
    add_attention(masked, m, setup, x, true);
    std::vector<Term> plain;
    add_attention(plain, m, setup, x, false);
    mask_per_masked_layer = sum_bytes(masked) - sum_bytes(plain);
  }
  act.layer_parts = std::move(parts);

  // --- forward / backward working sets of one layer (derived, modeling.md §4.3-4.4) ---------
  const Bytes mlp_bwd = checked_product({3, x.e, T, x.I});  // grad of act·up, then grads of act and up
  Bytes attn_bwd = 0;
  if (setup.attention == Attention::kSdpa) {
    // dq, dk, dv, the incoming grad, dk/dv expanded to a heads (GQA) and the fp32 dq accumulator.
    const Bytes expanded = m.num_kv_heads < m.num_heads ? checked_product({2, x.e, T, x.qd}) : 0;
    attn_bwd = checked_product({2, x.e, T, x.qd}) + checked_product({2, x.e, T, x.kvd}) + expanded + checked_product({4, T, x.qd});
  } else {
    // grad of the bf16 probabilities, its fp32 upcast and the softmax input grad.
    attn_bwd = checked_product({4 + 2 * x.e, x.a, x.s, x.s, x.b});
  }
  act.mlp_backward_transient = mlp_bwd;
  act.attn_backward_transient = attn_bwd;
  act.backward_transient = std::max(mlp_bwd, attn_bwd);
  // What a layer's backward has released by the time it reaches its MLP peak (down_proj ran)
  // and its attention peak (the MLP, the norms after attention and o_proj ran).
  for (const auto& p : act.layer_parts) {
    const bool mlp = p.name.rfind("mlp.", 0) == 0;
    if (p.name == "mlp.product") act.freed_before_mlp_peak += p.bytes;
    const bool after_attention = p.name.rfind("post_attention_layernorm.", 0) == 0 ||
                                 p.name.rfind("pre_feedforward_layernorm.", 0) == 0 ||
                                 p.name.rfind("post_feedforward_layernorm.", 0) == 0 || p.name == "attn.out" ||
                                 p.name == "attn.out_contiguous";
    if (mlp || after_attention) act.freed_before_attn_peak += p.bytes;
  }
  act.forward_transient = setup.attention == Attention::kEager ? checked_product({x.e, x.a, x.s, x.s, x.b}) : 0;

  // --- checkpointing ---------------------------------------------------------------------------
  const Bytes layer_input = checked_product({x.r, T, x.h});
  const Bytes L = m.num_layers;
  Bytes kept_total = 0;
  switch (setup.grad_ckpt) {
    case GradCkpt::kNone:
      act.kept_per_layer = act.per_layer;
      kept_total = checked_add(checked_mul(L, act.per_layer), checked_mul(masked_layers, mask_per_masked_layer));
      break;
    case GradCkpt::kFull:
      act.kept_per_layer = layer_input;
      act.recompute = checked_add(act.per_layer, mask_per_masked_layer > 0 ? mask_per_masked_layer : 0);
      kept_total = checked_mul(L, layer_input);
      break;
    case GradCkpt::kSelective:
      act.kept_per_layer = act.per_layer - act.s2_per_layer;
      act.recompute = act.s2_per_layer + mask_per_masked_layer;
      kept_total = checked_mul(L, act.kept_per_layer);
      break;
    case GradCkpt::kOpSac: {
      // torchtitan's op-level SAC policy (parallelize_llama.py _apply_ac_to_transformer_block):
      // MUST_SAVE the outputs of aten.mm and of the SDPA kernels, except every second mm of the
      // block; everything else is recomputed from the block input. Matmuls in execution order:
      // q, k, v, o, gate, up, down (fused: qkv, o, gate_up, down); odd ones are kept.
      std::vector<Bytes> mm_widths = fused ? std::vector<Bytes>{x.qd + 2 * x.kvd, x.h, 2 * x.I, x.h}
                                           : std::vector<Bytes>{x.qd, x.kvd, x.kvd, x.h, x.I, x.I, x.h};
      Bytes kept = layer_input;
      for (std::size_t i = 0; i < mm_widths.size(); i += 2) kept = checked_add(kept, checked_product({x.e, T, mm_widths[i]}));
      // The SDPA kernel's outputs (attention output and logsumexp) are the layer parts above.
      for (const auto& p : act.layer_parts) {
        if (setup.attention == Attention::kSdpa && (p.name == "attn.out" || p.name == "attn.logsumexp")) {
          kept = checked_add(kept, p.bytes);
        }
      }
      act.kept_per_layer = kept;
      act.recompute = act.per_layer > kept - layer_input ? act.per_layer - (kept - layer_input) : 0;
      kept_total = checked_mul(L, kept);
      break;
    }
  }

  // --- outside the layers: embedding ids, RoPE tables, final norm ----------------------------
  act.outside_parts.push_back({"input_ids", checked_mul(8, T), "8·T: int64 token ids saved by the embedding backward",
                               "torch nn.functional.embedding (embedding_backward takes indices)"});
  act.outside_parts.push_back({"rope_cos_sin", checked_product({2, x.r, T, x.d}),
                               fmt::format("2·{}·T·d: cos and sin tables, shared by every layer", x.r),
                               "transformers LlamaRotaryEmbedding.forward (cast to the hidden dtype)"});
  add_norm(act.outside_parts, m, x, "final_norm", true, 1);
  act.outside = sum_bytes(act.outside_parts);
  for (const auto& p : act.outside_parts) {
    if (p.name.rfind("final_norm.", 0) == 0) act.final_norm_saved += p.bytes;
  }

  act.stack = {"activations", checked_add(kept_total, act.outside),
               fmt::format("L × kept_per_layer + outside = {} × {} + {}{}", L, group_digits(act.kept_per_layer),
                           group_digits(act.outside),
                           masked_layers && setup.grad_ckpt == GradCkpt::kNone
                               ? fmt::format(" + {} masked layers × {}", masked_layers, group_digits(mask_per_masked_layer))
                               : ""),
               "per-op derivation of the HF decoder layer (see per_layer_parts); checkpointing: torch.utils.checkpoint keeps layer inputs",
               true};

  // Shared masks alive during the forward only: eager builds a 4-D float causal mask (plus a
  // sliding one when the model mixes layer kinds); SDPA gets boolean masks for masked layers.
  Bytes masks = 0;
  std::string mask_formula = "no materialised mask (SDPA is_causal, no padding)";
  if (setup.attention == Attention::kEager) {
    const Bytes kinds = (m.sliding_layers > 0 && m.sliding_layers < m.num_layers) ? 2 : 1;
    masks = checked_product({kinds, x.r, x.b, x.s, x.s});
    mask_formula = fmt::format("{} × {}·b·s²: 4-D float causal mask{} in the hidden dtype", kinds, x.r, kinds > 1 ? "s (full and sliding)" : "");
  } else if (masked_layers > 0) {
    masks = checked_product({1, x.b, x.s, x.s});
    mask_formula = setup.explicit_mask ? "1·b·s²: boolean attention mask (padding / packed documents)"
                                       : "1·b·s²: boolean sliding-window mask (s > sliding_window)";
  }
  act.forward_masks = {"attention_mask", masks, mask_formula, "transformers masking_utils (create_causal_mask / sliding window)", true};

  act.backward_working = {"layer_backward", checked_add(checked_add(act.kept_per_layer, act.recompute), act.backward_transient),
                          fmt::format("the layer in backward: kept {} + recomputed {} − released so far + gradient buffers "
                                      "(MLP peak 3·e·T·I = {}, attention peak {})",
                                      group_digits(act.kept_per_layer), group_digits(act.recompute), group_digits(mlp_bwd),
                                      group_digits(attn_bwd)),
                          "derived from the backward of LlamaMLP and the SDPA/eager attention backward (flash dq_accum fp32)",
                          true};
  return act;
}

}  // namespace vramcalc
