// T5's two stacks as the estimator's activations: what each block saves, op by op, derived from
// transformers 5.24 models/t5/modeling_t5.py (T5Block, T5LayerSelfAttention,
// T5LayerCrossAttention, T5LayerFF, T5Stack, T5ForConditionalGeneration) and checked to the byte
// against the census and the harness records (tools/measure/FINDINGS.md §34).
#include "core/t5_activations.hpp"

#include <algorithm>
#include <variant>

#include <fmt/format.h>

#include <vramcalc/architecture.hpp>
#include <vramcalc/model_states.hpp>

#include "core/ops.hpp"
#include "core/t5_dropout.hpp"

namespace vramcalc {
namespace {

constexpr const char* kT5Src = "transformers 5.24 models/t5/modeling_t5.py";

// The Dims of one stack: its own sequence length (the encoder's s_e, the decoder's s_d).
Dims stack_dims(const ModelConfig& m, const TrainingSetup& setup, std::uint64_t seq) {
  TrainingSetup s = setup;
  s.seq_len = seq;
  return dims_of(m, s);
}

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, std::string source, BackwardRegion region) {
  out.push_back({{std::move(name), bytes, std::move(formula), std::move(source), false}, region, false});
}

// T5DenseActDense (feed_forward_proj "relu"): wi's output goes through relu, which saves its
// output (threshold_backward), the same tensor wo saves as its input: one e·T·I. (The shared MLP
// rule saves the activation's input too, as GELU does.) T5DenseGatedActDense ("gated-gelu":
// gelu_new): wi_0's output (pow), tanh's output, 1 + tanh, 0.5·x (activations.py
// NewGELUActivation), gelu's output and wi_1's output (the product's operands), the product (wo's
// input): 7·e·T·I.
void ff_saved(const ModelConfig& m, const Dims& x, double p, std::vector<SavedTensor>& out) {
  const Bytes tI = checked_product({x.e, x.T, x.I});
  t5_ff_dropout(p, m.gated_mlp, x, out);  // the dropout between the activation and wo
  if (!m.gated_mlp) {
    add(out, "ff.relu_output", tI,
        fmt::format("{}·T·I: relu's output, saved by relu (threshold_backward){}", x.e, x.amp || p > 0.0 ? "" : " and by wo as its input"),
        fmt::format("{} T5DenseActDense (wi, act, dropout, wo)", kT5Src), BackwardRegion::kOutput);
    // Under autocast `hidden_states.to(self.wo.weight.dtype)` makes an fp32 copy; wo saves autocast's bf16 cast of it.
    if (x.amp) add(out, "ff.wo_input_cast", tI, "2·T·I: wo's bf16 autocast cast of the fp32 copy `.to(self.wo.weight.dtype)` makes",
                   fmt::format("{} T5DenseActDense.forward", kT5Src), BackwardRegion::kOutput);
    return;
  }
  const std::string src = fmt::format("{} T5DenseGatedActDense; transformers activations.py NewGELUActivation", kT5Src);
  add(out, "ff.gelu_new_parts", checked_mul(4, tI),
      fmt::format("4×{}·T·I: wi_0's output (saved by pow), tanh's output, 1 + tanh, 0.5·x (gelu_new's elementwise autograd)", x.e), src,
      BackwardRegion::kAfterAttention);
  add(out, "ff.gate_operands", checked_mul(2, tI), fmt::format("2×{}·T·I: gelu's output and wi_1's output, saved by their product", x.e), src,
      BackwardRegion::kAfterAttention);
  add(out, "ff.product", tI, fmt::format("{}·T·I: {}, wo's saved input", x.e, p > 0.0 ? "the product's dropout output" : "the product"), src,
      BackwardRegion::kOutput);
}

// T5LayerNorm: variance = x.to(fp32).pow(2).mean (pow saves the fp32 copy: in fp32 the input
// itself), x * rsqrt(variance + eps) saves x as it came (bf16 weights: a second tensor, the bf16
// input) and rstd; the product, cast to a half weight's dtype, is saved by `weight *`; the
// output by the Linears that read it (one storage).
void t5_norm_saved(const std::string& name, const Dims& x, std::uint64_t consumers, BackwardRegion region, std::vector<SavedTensor>& out) {
  const std::string src = fmt::format("{} T5LayerNorm.forward", kT5Src);
  const Bytes r = x.r;
  add(out, name + ".fp32_input", checked_product({4, x.T, x.h}), "4·T·h: the input as fp32, saved by pow (and by the mul in fp32)", src, region);
  if (r != 4) add(out, name + ".input", checked_product({r, x.T, x.h}), fmt::format("{}·T·h: the input itself, saved by x * rsqrt (fp32 result)", r), src, region);
  add(out, name + ".rstd", checked_product({4, x.T}), "4·T: fp32 rsqrt(variance + eps), saved by the mul", src, region);
  add(out, name + ".normalized", checked_product({r, x.T, x.h}),
      fmt::format("{}·T·h: x·rstd{}, saved by `weight *`", r, r == 4 ? "" : " cast to the weight's dtype"), src, region);
  if (consumers > 0 && x.amp) {  // fp32 output: each Linear saves its own autocast cast (activations are not cached)
    add(out, name + ".output_casts", checked_product({consumers, 2, x.T, x.h}),
        fmt::format("{}×2·T·h: bf16 autocast casts of the fp32 output, one per Linear that reads it", consumers),
        src + "; aten/src/ATen/autocast_mode.cpp cached_cast", region);
  } else if (consumers > 0) {
    add(out, name + ".output", checked_product({r, x.T, x.h}), fmt::format("{}·T·h: the norm's output, saved by the Linears that read it", r), src, region);
  }
}

// T5Attention.forward, eager self-attention: scores = q·kᵀ (q and k saved by matmul), + position
// bias (relative bias, plus the causal mask in the decoder: saves nothing), softmax (saves its
// output, read again by probs·v, which saves v), o's input. No 1/√d scaling (T5 folds it into
// the init), no RoPE, as many k/v heads as q heads.
void self_attention_saved(const Dims& x, bool decoder, double p, std::vector<SavedTensor>& out) {
  using enum BackwardRegion;
  const std::string src = fmt::format("{} T5LayerSelfAttention, T5Attention.forward", kT5Src);
  const char* t = decoder ? "T_d" : "T_e";
  const char* s = decoder ? "s_d" : "s_e";
  const Bytes e = x.e;
  add(out, "self.q_k", checked_product({2, e, x.T, x.qd}), fmt::format("2·{}·{}·a·d_kv: q and k, saved by the scores matmul", e, t), src, kInput);
  add(out, "self.v", checked_product({e, x.T, x.qd}), fmt::format("{}·{}·a·d_kv: v, saved by the probabilities' matmul", e, t), src, kInput);
  if (x.amp) {  // bf16 scores + the fp32 position bias: fp32 softmax output, and matmul's bf16 cast of it
    add(out, "self.probabilities", checked_product({6, x.b, x.a, x.s, x.s}),
        fmt::format("(4 + 2)·b·a·{}²: fp32 softmax output (the scores plus the fp32 position bias are fp32) and the matmul's bf16 cast", s), src,
        kInput);
  } else {
    add(out, "self.probabilities", checked_product({e, x.b, x.a, x.s, x.s}),
        fmt::format("{}·b·a·{}²: softmax output, saved by softmax and the probabilities' matmul", e, s), src, kInput);
  }
  t5_probabilities_dropout(p, "self", x, x.s, decoder ? "s_d²" : "s_e²", kInput, out);
  add(out, "self.o_input", checked_product({e, x.T, x.qd}), fmt::format("{}·{}·a·d_kv: o's input (heads merged), saved by o", e, t), src, kAfterAttention);
  t5_output_dropout(p, "self.output_dropout_mask", "T5LayerSelfAttention", x, kAfterAttention, out);
}

// One op list entry of the family's block (families/t5.cpp layer(): the self-attention's norm,
// the attention, the FF's norm, the MLP) run at the dims `x`.
void op_saved(const LayerOp& op, const ModelConfig& m, const Dims& x, bool decoder, double p, std::vector<SavedTensor>& out) {
  if (const auto* n = std::get_if<NormOp>(&op)) t5_norm_saved(n->name, x, n->consumers, n->region, out);
  if (std::holds_alternative<AttentionOp>(op)) self_attention_saved(x, decoder, p, out);
  if (std::holds_alternative<MlpOp>(op)) {
    ff_saved(m, x, p, out);
    t5_output_dropout(p, "ff.output_dropout_mask", "T5LayerFF", x, BackwardRegion::kOutput, out);
  }
}

// T5LayerCrossAttention (fp32 eager): its T5LayerNorm, whose output only q reads; q and k saved
// by the scores matmul, v by the probabilities' matmul, k and v of the encoder length; the
// probabilities b·a·s_d·s_e saved by softmax and that matmul (the zero position bias adds
// nothing saved); o's input. The k and v Linears' input, the encoder output, is in outside.
void cross_attention_saved(const ModelConfig& m, const Dims& xd, const Dims& xe, double p, std::vector<SavedTensor>& out) {
  using enum BackwardRegion;
  const std::string src = fmt::format("{} T5LayerCrossAttention, T5Attention.forward (key_value_states)", kT5Src);
  t5_norm_saved("cross.layer_norm", xd, 1, kAfterAttention, out);
  const Bytes e = xd.e;
  add(out, "cross.q", checked_product({e, xd.T, xd.qd}), fmt::format("{}·T_d·a·d_kv: q, saved by the scores matmul", e), src, kAfterAttention);
  add(out, "cross.k_v", checked_product({2, e, xe.T, xd.qd}),
      fmt::format("2·{}·T_e·a·d_kv: k and v of the encoder length, saved by the two matmuls", e), src, kAfterAttention);
  if (xd.amp) {
    // Under autocast nobody saves the fp32 encoder output: k's and v's Linears each save their own bf16 cast.
    add(out, "cross.encoder_output_casts", checked_product({2, 2, xe.T, m.hidden_size}),
        "2×2·T_e·h: the k and v Linears' bf16 autocast casts of the fp32 encoder output, in every block", src + "; aten autocast cached_cast",
        kAfterAttention);
    // bf16 scores + a zero bias in the query's dtype stay bf16; CUDA autocast runs softmax in fp32
    // (its fp32 op list), the matmul saves the bf16 cast. (CPU autocast keeps softmax in bf16: 2·b·a·s_d·s_e measured.)
    add(out, "cross.probabilities", checked_product({6, xd.b, xd.a, xd.s, xe.s}),
        "(4 + 2)·b·a·s_d·s_e: fp32 softmax output (CUDA autocast's fp32 softmax) and the matmul's bf16 cast",
        src + "; torch amp docs, CUDA ops that autocast to float32 (softmax)", kAfterAttention);
  } else {
    add(out, "cross.probabilities", checked_product({e, xd.b, xd.a, xd.s, xe.s}),
        fmt::format("{}·b·a·s_d·s_e: softmax output, saved by softmax and the probabilities' matmul", e), src, kAfterAttention);
  }
  t5_probabilities_dropout(p, "cross", xd, xe.s, "s_d·s_e", kAfterAttention, out);
  add(out, "cross.o_input", checked_product({e, xd.T, xd.qd}), fmt::format("{}·T_d·a·d_kv: o's input, saved by o", e), src, kAfterAttention);
  t5_output_dropout(p, "cross.output_dropout_mask", "T5LayerCrossAttention", xd, kAfterAttention, out);
}

std::vector<SavedTensor> encoder_block(const LayerSpec& spec, const ModelConfig& m, const Dims& xe, double p) {
  std::vector<SavedTensor> out;
  for (const auto& op : spec.ops) op_saved(op, m, xe, false, p, out);
  return out;
}

// The decoder block: the self-attention at s_d (causal: the mask is folded into the position
// bias, saved by nobody), the cross-attention, the FF at s_d.
std::vector<SavedTensor> decoder_block(const LayerSpec& spec, const ModelConfig& m, const Dims& xd, const Dims& xe, double p) {
  std::vector<SavedTensor> out;
  std::size_t i = 0;
  for (const auto& op : spec.ops) {
    if (i++ == 2) cross_attention_saved(m, xd, xe, p, out);  // before the FF's norm: T5Block layer[1]
    op_saved(op, m, xd, true, p, out);
  }
  return out;
}

// Int64 relative-position buckets (T5Attention._relative_position_bucket), saved by the bias
// embedding's backward: once per stack (block 0 computes the bias, the others receive it).
Term buckets(const char* stack, std::uint64_t s, bool every_layer) {
  return {fmt::format("{}.relative_position_buckets", stack), checked_product({8, s, s}),
          fmt::format("8·s²: int64 buckets (s = {}) saved by relative_attention_bias (nn.Embedding) backward{}", s,
                      every_layer ? ", per self-attention layer (UMT5)" : ", once in the stack"),
          fmt::format("{} T5Attention.compute_bias", kT5Src)};
}

void add_norm(const char* name, const ModelConfig& m, const Dims& x, Activations& act, bool head) {
  (void)m;
  std::vector<SavedTensor> norm;
  t5_norm_saved(name, x, 0, BackwardRegion::kNone, norm);
  for (auto& p : norm) {
    act.outside_parts.push_back(p.term);
    if (head) act.final_norm_saved += p.term.bytes;
  }
}

// Each stack's dropout of the embedding and of the final norm's output: the decoder's final one
// is in the head's window (the encoder's output is the dropout's output, one storage as before).
void add_stack_dropouts(double p, const Dims& xd, const Dims& xe, Activations& act) {
  if (p <= 0.0) return;
  act.outside_parts.push_back(t5_stack_dropout(p, "encoder.embedding_dropout_mask", "encoder's embedding dropout", xe));
  act.outside_parts.push_back(t5_stack_dropout(p, "encoder.final_dropout_mask", "encoder's final dropout", xe));
  act.outside_parts.push_back(t5_stack_dropout(p, "decoder.embedding_dropout_mask", "decoder's embedding dropout", xd));
  act.outside_parts.push_back(t5_stack_dropout(p, "final_norm.dropout_mask", "decoder's final dropout", xd));
  act.final_norm_saved = checked_add(act.final_norm_saved, act.outside_parts.back().bytes);
}

// Ids, buckets, both final norms, the encoder output and lm_head's input.
void t5_outside(const ModelConfig& m, const Dims& xd, const Dims& xe, bool checkpointed, double p, Activations& act) {
  const std::string src = kT5Src;
  add_stack_dropouts(p, xd, xe, act);
  act.outside_parts.push_back({"input_ids", checked_mul(8, xe.T), "8·T_e: int64 encoder ids saved by the shared embedding's backward",
                               "torch nn.functional.embedding (embedding_backward takes indices)"});
  act.outside_parts.push_back({"decoder_input_ids", checked_mul(8, xd.T), "8·T_d: int64 decoder ids (_shift_right(labels)) saved by the embedding",
                               src + " T5ForConditionalGeneration.forward (_shift_right)"});
  if (!m.relative_bias_every_layer && !checkpointed) {  // checkpointed: block 0 recomputes them in backward
    act.outside_parts.push_back(buckets("encoder", xe.s, false));
    act.outside_parts.push_back(buckets("decoder", xd.s, false));
  }
  add_norm("encoder.final_layer_norm", m, xe, act, false);
  if (!xe.amp) act.outside_parts.push_back({"encoder_output", checked_product({xe.e, xe.T, m.hidden_size}),
                               fmt::format("{}·T_e·h: the encoder's output, saved by every decoder block's cross-attention k and v Linears "
                                           "(one storage, counted once)", xe.e),
                               src + " T5Stack.forward (encoder_hidden_states), T5Attention k/v(key_value_states)"});
  add_norm("final_norm", m, xd, act, true);
  const Term head{"final_norm.lm_head_input", checked_product({xd.e, xd.T, m.hidden_size}),
                  fmt::format("{}·T_d·h: lm_head's input{} (tied: the decoder output × d_model^-0.5, a new tensor; untied: the norm output)", xd.e,
                              xd.amp ? ", autocast's bf16 cast" : ""),
                  src + " T5ForConditionalGeneration.forward (scale_decoder_outputs)"};
  act.outside_parts.push_back(head);
  act.final_norm_saved += head.bytes;
  // CrossEntropyLoss(lm_logits.view(-1, V), labels.view(-1)): nll_loss saves the int64 labels.
  const Term labels{"loss.labels", checked_mul(8, xd.T), "8·T_d: int64 labels saved by nll_loss", src + " T5ForConditionalGeneration.forward (loss)"};
  act.outside_parts.push_back(labels);
  act.final_norm_saved += labels.bytes;
}

Bytes sum_into(const std::vector<SavedTensor>& saved, std::vector<Term>& parts) {
  Bytes total = 0;
  for (const auto& p : saved) {
    parts.push_back(p.term);
    total = checked_add(total, p.term.bytes);
  }
  return total;
}

// UMT5: every self-attention has its own bias table and its own buckets.
void add_layer_buckets(const ModelConfig& m, const Dims& x, const char* stack, std::vector<SavedTensor>& out) {
  if (m.relative_bias_every_layer) out.push_back({buckets(stack, x.s, true), BackwardRegion::kInput, true});
}

}  // namespace

// Full checkpointing (T5Block is a GradientCheckpointingLayer; non-reentrant torch.utils.checkpoint):
// each block keeps its inputs — the hidden states, and the tensors block 0 makes and passes on: the
// position bias (the decoder's with the causal mask folded in, b·a·s_d²), the cross-attention's
// zero bias (requires_grad under checkpointing), the decoder's 4-D causal mask and the encoder
// output. Block 0's buckets are recomputed, not kept.
void checkpoint_inputs(const ModelConfig& m, const Dims& xd, const Dims& xe, Activations& act) {
  const std::string src = fmt::format("{} T5Stack.forward, T5Attention.forward (gradient_checkpointing: position_bias.requires_grad = True); "
                                      "torch/utils/checkpoint.py (non-reentrant: inputs kept)", kT5Src);
  const Bytes r = xe.r;
  std::vector<Term> kept;
  if (m.num_layers > 1) kept.push_back({"encoder.position_bias", checked_product({r, xe.a, xe.s, xe.s}), fmt::format("{}·a·s_e²: block 0's position bias, an input of the other encoder blocks", r), src});
  if (m.num_decoder_layers > 1) {
    kept.push_back({"decoder.position_bias", checked_product({r, xd.b, xd.a, xd.s, xd.s}),
                    fmt::format("{}·b·a·s_d²: block 0's position bias + the causal mask, an input of the other decoder blocks", r), src});
    kept.push_back({"decoder.cross_position_bias", checked_product({r, xd.a, xd.s, xe.s}),
                    fmt::format("{}·a·s_d·s_e: the cross-attention's zero bias (requires grad), an input of the other decoder blocks", r), src});
  }
  kept.push_back({"decoder.causal_mask", checked_product({r, xd.b, xd.s, xd.s}), fmt::format("{}·b·s_d²: the 4-D causal mask, an input of every decoder block", r),
                  "transformers masking_utils create_causal_mask (eager: additive float mask)"});
  for (auto& t : kept) act.outside_parts.push_back(std::move(t));
}

// The first encoder block's backward under checkpointing (the last block in backward). Alive besides
// the states: its kept input and the gradient of its output, the gradient of the position bias from
// the other blocks, the tied embedding's gradient summed in autograd's input buffer (decoder embedding,
// lm_head) until the encoder embedding's backward. Then the larger of (a) its recompute up to
// compute_bias: norm 0's saved set, q, k, v, the int64 aranges and _relative_position_bucket's s_e²
// tensors alive at torch.min (relative positions, their abs, the buckets so far, the large-position
// buckets, full_like, min's result: 6·8·s_e², the bool is_small s_e²) and (b) the whole block
// recomputed, less what its backward has released, plus its gradient buffers.
Bytes first_block_working(const ModelConfig& m, const TrainingSetup& setup, const Dims& xe, const std::vector<SavedTensor>& enc, const MlpOp& mlp) {
  const Bytes rTh = checked_product({xe.r, xe.T, m.hidden_size});
  const Bytes grad = precision_bytes(setup.precision).grad;
  const Bytes bias_grad = m.num_layers > 1 ? checked_product({xe.r, xe.a, xe.s, xe.s}) : 0;
  const Bytes base = checked_add(checked_add(checked_mul(2, rTh), bias_grad), checked_product({grad, m.vocab_size, m.hidden_size}));
  const Bytes norm0 = checked_add(checked_add(checked_product({4, xe.T, m.hidden_size}), checked_mul(4, xe.T)), checked_mul(2, rTh));
  const Bytes buckets = checked_add(checked_product({48, xe.s, xe.s}), checked_product({xe.s, xe.s}));
  const Bytes at_bias = checked_add(checked_add(norm0, checked_product({3, xe.e, xe.T, xe.qd})), checked_add(checked_mul(16, xe.s), buckets));
  Bytes block = 0, freed_mlp = 0, freed_attn = 0;
  for (const auto& p : enc) {
    block = checked_add(block, p.term.bytes);
    if (p.region == BackwardRegion::kOutput) freed_mlp += p.term.bytes;
    if (p.region == BackwardRegion::kOutput || p.region == BackwardRegion::kAfterAttention) freed_attn += p.term.bytes;
  }
  const Bytes mlp_peak = block - freed_mlp + mlp_backward_transient(mlp, xe);
  const Bytes attn_peak = block - freed_attn + attention_backward_transient(m, setup, xe);
  return checked_add(base, std::max({at_bias, mlp_peak, attn_peak}));
}

Activations t5_activations(const ModelConfig& m, const TrainingSetup& setup) {
  const LayerSpec spec = family_spec(m.family).layer(m);
  const Dims xe = stack_dims(m, setup, setup.seq_len);
  const Dims xd = stack_dims(m, setup, setup.target_seq);
  const double drop = setup.model_dropout(m.dropout_rate);
  Activations act;
  auto enc = encoder_block(spec, m, xe, drop);
  add_layer_buckets(m, xe, "encoder", enc);
  auto dec = decoder_block(spec, m, xd, xe, drop);
  add_layer_buckets(m, xd, "decoder", dec);
  act.per_layer = sum_into(enc, act.layer_parts);
  act.kept_per_layer = act.per_layer;
  act.decoder_layers = m.num_decoder_layers;
  act.decoder_per_layer = sum_into(dec, act.decoder_layer_parts);
  // The first block in backward is the last decoder block: its releases and gradient buffers.
  for (const auto& p : dec) {
    if (p.region == BackwardRegion::kOutput) act.freed_before_mlp_peak += p.term.bytes;
    if (p.region == BackwardRegion::kOutput || p.region == BackwardRegion::kAfterAttention) act.freed_before_attn_peak += p.term.bytes;
  }
  for (const auto& op : spec.ops) {
    if (const auto* p = std::get_if<MlpOp>(&op)) act.mlp_backward_transient = mlp_backward_transient(*p, xd);
  }
  act.attn_backward_transient = attention_backward_transient(m, setup, xd);
  act.backward_transient = std::max(act.mlp_backward_transient, act.attn_backward_transient);
  const bool checkpointed = setup.grad_ckpt == GradCkpt::kFull;
  t5_outside(m, xd, xe, checkpointed, drop, act);
  act.decoder_kept_per_layer = act.decoder_per_layer;
  if (checkpointed) {
    checkpoint_inputs(m, xd, xe, act);
    act.kept_per_layer = checked_product({xe.r, xe.T, m.hidden_size});
    act.decoder_kept_per_layer = checked_product({xd.r, xd.T, m.hidden_size});
    act.recompute = act.decoder_per_layer;  // the last decoder block, the first in backward
    for (const auto& op : spec.ops) {
      if (const auto* p = std::get_if<MlpOp>(&op)) act.first_layer_working = first_block_working(m, setup, xe, enc, *p);
    }
    act.first_layer_outside = checked_mul(8, xe.T);  // input_ids
    for (const auto& t : family_spec(m.family).parameters(m)) {  // encoder block 0's and the shared embedding's
      if (t.name.starts_with("encoder.block.*")) act.first_layer_pending_params += t.numel();
      if (t.name.starts_with("encoder.block.0") || t.name.starts_with("shared.")) act.first_layer_pending_params += t.total();
    }
  }
  for (const auto& p : act.outside_parts) act.outside = checked_add(act.outside, p.bytes);
  const Bytes layers = checked_add(checked_mul(m.num_layers, act.kept_per_layer), checked_mul(m.num_decoder_layers, act.decoder_kept_per_layer));
  act.stack = component_term(
      ComponentId::kActivations, checked_add(layers, act.outside),
      fmt::format("L_e × encoder block + L_d × decoder block + outside = {} × {} + {} × {} + {} (s_e = {}, s_d = {}; {}dropout {})",
                  m.num_layers, group_digits(act.kept_per_layer), m.num_decoder_layers, group_digits(act.decoder_kept_per_layer),
                  group_digits(act.outside), setup.seq_len, setup.target_seq, checkpointed ? "each block keeps its input; " : "",
                  drop > 0.0 ? fmt::format("p = {:g}", drop) : std::string("off")),
      std::string(kT5Src) + " T5Block (per-op derivation: per_layer_parts, decoder_layer_parts); measured: tools/measure/FINDINGS.md §34",
      true);
  act.forward_masks = component_term(ComponentId::kAttentionMask, 0, "folded into the position bias (no mask tensor is kept)",
                                     std::string(kT5Src) + " T5Stack.forward, T5Attention.compute_bias", true);
  act.backward_working = component_term(
      ComponentId::kLayerBackward, checked_add(checked_add(act.decoder_kept_per_layer, act.recompute), act.backward_transient),
      fmt::format("the last decoder block in backward: saved {} − released so far + gradient buffers (MLP peak {}, attention peak {})",
                  group_digits(act.decoder_per_layer), group_digits(act.mlp_backward_transient), group_digits(act.attn_backward_transient)),
      "derived from the backward of T5LayerFF and the eager attention backward", true);
  return act;
}

}  // namespace vramcalc
