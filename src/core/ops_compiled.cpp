// torch.compile: what the AOTAutograd min-cut partitioner keeps for backward (see ops_compiled.hpp).
// Partitioner rules (torch/_functorch/partitioners.py): mm / bmm / SDPA outputs are never
// recomputed; pointwise ops, casts, views and cheap reductions are, unless their value feeds a
// matmul in backward (ban "is_materialized_backwards" / non-fusible user: a matmul input is saved);
// graph inputs are free to save. Hence per op: the norm keeps its input and fp32 rstd (the fp32
// copy and x·rstd are recomputed) and its output (the Linears' input); RoPE keeps the rotated q
// and k (SDPA's inputs); SwiGLU keeps gate and up (mm outputs) and the product (down_proj's
// input), silu is recomputed; the residual adds are recomputed from what the norms keep.
#include "core/ops_compiled.hpp"

#include <variant>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/model_states.hpp>

#include "core/ops_flash.hpp"

namespace vramcalc {
namespace {

constexpr const char* kPartitioner =
    "torch/_functorch/partitioners.py min_cut_rematerialization_partition (measured: tools/measure/FINDINGS.md §27)";

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, BackwardRegion region,
         bool estimated = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), kPartitioner, estimated}, region, false});
}

void compiled_norm(const NormOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const Bytes n = checked_mul(op.width, op.rows_per_token);
  const Bytes tokens = op.input_in_compute_dtype ? x.T : x.Tn;
  const Bytes rows = checked_mul(tokens, op.rows_per_token);
  const Bytes in_bytes = op.input_in_compute_dtype ? x.e : x.r;
  if (!op.input_already_saved) {
    add(out, op.name + ".input", checked_product({in_bytes, tokens, n}),
        fmt::format("{}·T·h: the norm's input (the residual stream, or the matmul output it sums), kept to recompute x·rstd", in_bytes),
        op.region, op.input_in_compute_dtype);
  }
  const bool layer_norm = op.kind == NormKind::kLayerNorm;
  add(out, op.name + (layer_norm ? ".mean_rstd" : ".rstd"), checked_product({layer_norm ? Bytes{8} : Bytes{4}, rows}),
      layer_norm ? "8·T: fp32 mean and rstd per row (reductions are saved)" : "4·T: fp32 rsqrt(var + eps) per row (a reduction, saved)",
      op.region);
  if (op.consumers == 0) return;
  const Bytes o = x.amp ? 2 : x.e;
  add(out, op.name + ".output", checked_product({o, tokens, n}),
      fmt::format("{}·T·h: the norm's output, the Linears' input (a matmul input is saved, not recomputed{})", o,
                  x.amp ? "; one bf16 cast for all of them" : ""),
      op.region);
}

void compiled_attention(const AttentionOp& op, const ModelConfig& m, const TrainingSetup& setup, const Dims& x,
                        std::vector<SavedTensor>& out) {
  const bool masked = compiled_masked(setup) || op.always_masked || setup.explicit_mask;
  // With a mask HF repeats k and v to a heads (repeat_kv: expand + reshape, a copy in the graph);
  // of a single KV head the reshape stays a stride-0 view and the storage is one head's (measured).
  const bool repeated = masked && m.num_heads > m.num_kv_heads && m.num_kv_heads > 1;
  const Bytes kv_width = repeated ? x.qd : x.kvd;
  add(out, op.rope ? "attn.q_rope" : "attn.q", checked_product({x.e, x.T, x.qd}),
      fmt::format("{}·T·qd: q as SDPA reads it{}", x.e, op.rope ? " (q·cos + rotate_half(q)·sin; a new tensor)" : ""),
      BackwardRegion::kInput);
  add(out, repeated ? "attn.k_repeated" : "attn.k", checked_product({x.e, x.T, kv_width}),
      fmt::format("{}·T·{}: k as SDPA reads it{}", x.e, repeated ? "qd" : "kvd", repeated ? " (after RoPE, repeated to a heads: masked call)" : ""),
      BackwardRegion::kInput);
  add(out, repeated ? "attn.v_repeated" : "attn.v", checked_product({x.e, x.T, kv_width}),
      fmt::format("{}·T·{}: v as SDPA reads it{}", x.e, repeated ? "qd" : "kvd", repeated ? " (repeated to a heads)" : ""),
      BackwardRegion::kInput);
  add(out, "attn.out", checked_product({x.e, x.T, x.qd}),
      fmt::format("{}·T·qd: SDPA output (o_proj's input is its transpose, recomputed)", x.e), BackwardRegion::kAfterAttention);
  const bool efficient = x.e == 4 || masked;
  const Bytes s_lse = efficient ? ceil_div(x.s, 32) * 32 : x.s;
  add(out, "attn.logsumexp", checked_product({4, x.b, x.a, s_lse}),
      fmt::format("4·b·a·s{}: fp32 softmax statistics of the kernel", efficient ? "₃₂" : ""), BackwardRegion::kInput);
}

// HF eager_attention_forward traced: q·kᵀ and probs·v are bmm (their inputs are saved: q, kᵀ
// and v repeated to a heads, and the bf16 probabilities); softmax(dtype=float32) is rebuilt in
// backward from what the partitioner keeps: in fp32 the probabilities are the softmax output;
// in 16-bit the masked scores and the fp32 row max and sum (both reductions, saved).
void compiled_eager_attention(const Dims& x, std::vector<SavedTensor>& out) {
  const BackwardRegion in = BackwardRegion::kInput;
  add(out, "attn.q", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q after RoPE, q·kᵀ's input", x.e), in);
  add(out, "attn.k_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: kᵀ repeated to a heads, q·kᵀ's input", x.e), in);
  add(out, "attn.v_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: v repeated to a heads, probs·v's input", x.e), in);
  out.push_back({{"attn.probs", checked_product({x.e, x.a, x.s, x.s, x.b}),
                  fmt::format("{}·a·s²·b: the probabilities, probs·v's input{}", x.e, x.e == 4 ? " (and the softmax output)" : ""), kPartitioner,
                  false},
                 in, true});
  if (x.e != 4) {
    out.push_back({{"attn.masked_scores", checked_product({x.e, x.a, x.s, x.s, x.b}),
                    fmt::format("{}·a·s²·b: scores + mask, from which the fp32 softmax is recomputed", x.e), kPartitioner, false},
                   in, true});
    add(out, "attn.softmax_stats", checked_product({8, x.a, x.s, x.b}), "8·a·s·b: fp32 row max and sum of the softmax (reductions)", in);
  }
  add(out, "attn.out_contiguous", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: o_proj's input (transpose().contiguous())", x.e),
      BackwardRegion::kAfterAttention);
}

void compiled_mlp(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const Bytes tI = checked_product({x.e, x.T, x.I});
  const BackwardRegion after = BackwardRegion::kAfterAttention;
  if (op.kind == MlpKind::kPlain) {
    add(out, "mlp.fc_in", tI, fmt::format("{}·T·I: first Linear's output (an mm output; the activation is recomputed)", x.e), after);
    add(out, "mlp.act", tI, fmt::format("{}·T·I: activation output, the second Linear's input (a matmul input is saved)", x.e),
        BackwardRegion::kOutput);
    return;
  }
  if (op.kind == MlpKind::kFusedGated) {
    add(out, "mlp.gate_up", checked_mul(2, tI), fmt::format("{}·T·2I: fused gate_up output (an mm output)", x.e), after);
  } else {
    add(out, "mlp.gate", tI, fmt::format("{}·T·I: gate_proj output (an mm output; silu is recomputed)", x.e), after);
    add(out, "mlp.up", tI, fmt::format("{}·T·I: up_proj output (an mm output)", x.e), after);
  }
  add(out, "mlp.product", tI, fmt::format("{}·T·I: act(gate)·up, down_proj's input (a matmul input is saved)", x.e),
      BackwardRegion::kOutput);
}

// Full checkpointing of every K-th layer of 1..L checkpoints the top layer when K divides L
// (activations.cpp every_kth_layer); K = 1 always.
bool spec_layers_top_checkpointed(const TrainingSetup& setup) { return setup.ac_every <= 1; }

// The final norm as compile_norm saves it (lm_head reads its output), or as eager modules save
// it when only the blocks are compiled.
void final_norm_parts(const LayerSpec& spec, const TrainingSetup& setup, const Dims& x, bool head_input, Activations& act) {
  std::vector<SavedTensor> norm;
  const NormOp op{"final_norm", spec.final_norm, x.h, 1, head_input ? Bytes{1} : Bytes{0}, false, false, BackwardRegion::kNone};
  if (setup.compile == Compile::kModel) {
    compiled_norm(op, x, norm);
    // With the top layer checkpointed its recompute in backward makes the final norm's input
    // again: the graph does not save it (measured: the saved list has rstd and output only).
    const bool top_checkpointed = setup.grad_ckpt == GradCkpt::kFull && spec_layers_top_checkpointed(setup);
    if (top_checkpointed && !norm.empty() && norm.front().term.name == "final_norm.input") norm.erase(norm.begin());
  } else {
    norm_saved(op, x, norm);
  }
  for (const auto& p : norm) {
    act.outside_parts.push_back(p.term);
    act.final_norm_saved += p.term.bytes;
  }
}

}  // namespace

bool compiled_masked(const TrainingSetup& setup) { return setup.compile == Compile::kModel; }

std::vector<SavedTensor> compiled_layer_saved(const LayerSpec& spec, const ModelConfig& m, const TrainingSetup& setup,
                                              const Dims& x) {
  std::vector<SavedTensor> out;
  for (const auto& op : spec.ops) {
    if (const auto* n = std::get_if<NormOp>(&op)) compiled_norm(*n, x, out);
    if (const auto* li = std::get_if<LinearInputOp>(&op)) {
      add(out, li->name + ".input", checked_product({x.r, x.Tn, x.h}),
          fmt::format("{}·T·h: the residual stream, the Linears' input", x.r), li->region);
    }
    if (const auto* a = std::get_if<AttentionOp>(&op)) {
      // flash-attn's kernels are opaque custom ops: the graph saves what they save in eager
      if (is_flash(setup.attention)) attention_saved(*a, m, setup, x, false, out);
      else if (setup.attention == Attention::kEager) compiled_eager_attention(x, out);
      else compiled_attention(*a, m, setup, x, out);
    }
    if (const auto* p = std::get_if<MlpOp>(&op)) compiled_mlp(*p, x, out);
  }
  return out;
}

}  // namespace vramcalc

namespace vramcalc {

void compiled_outside(const LayerSpec& spec, const TrainingSetup& setup, const Dims& x, Activations& act) {
  act.outside_parts.push_back({"input_ids", checked_mul(8, x.T), "8·T: int64 token ids (a graph input) for the embedding backward",
                               "torch nn.functional.embedding (embedding_backward takes indices)"});
  const bool whole = setup.compile == Compile::kModel;
  if (spec.rope_tables > 0 && whole) {
    act.outside_parts.push_back({"rope_inv_freq", checked_product({spec.rope_tables, 4, x.rot / 2}),
                                 "4·rotary_dim/2: the fp32 inv_freq buffer (a graph input); cos/sin are recomputed in backward",
                                 kPartitioner});
  } else if (spec.rope_tables > 0) {
    const Bytes table = spec.rope_tables_fp32 ? 4 : x.r;
    act.outside_parts.push_back({"rope_cos_sin", checked_product({spec.rope_tables, 2, table, x.T, x.rot}),
                                 fmt::format("{}×2·{}·T·rotary_dim: cos and sin made eagerly, inputs of every compiled block", spec.rope_tables, table),
                                 "transformers LlamaRotaryEmbedding.forward; a graph input is saved, not recomputed"});
  }
  if (whole && setup.attention == Attention::kSdpa) {
    act.outside_parts.push_back({"attn.mask_float", checked_product({x.e, x.b, x.s, x.s}),
                                 fmt::format("{}·b·s²: the causal mask converted to the query dtype, saved once for every layer's SDPA", x.e),
                                 "transformers masking_utils (no is_causal shortcut while tracing); " + std::string(kPartitioner)});
  }
  if (whole && setup.attention == Attention::kEager && x.e != 4) {
    // Measured (bf16, 2 layers): the first layer's cut keeps the fp32 softmax output instead of
    // the masked scores and the row statistics that the other layers keep. Not derived: the
    // min-cut's edge weights grow with the distance to the backward (1.1^dist) and tie-break here.
    const Bytes s2 = checked_product({x.a, x.s, x.s, x.b});
    const Bytes fp32 = checked_mul(4, s2), others = checked_add(checked_mul(x.e, s2), checked_product({8, x.a, x.s, x.b}));
    act.outside_parts.push_back({"attn.first_layer_softmax_fp32", fp32 > others ? fp32 - others : 0,
                                 "4·a·s²·b − (e·a·s²·b + 8·a·s·b): the first layer keeps the fp32 softmax output instead of the scores and statistics",
                                 std::string(kPartitioner) + "; measured, not derived", true});
  }
  final_norm_parts(spec, setup, x, setup.loss != LossImpl::kFused, act);
  for (const auto& p : act.outside_parts) act.outside = checked_add(act.outside, p.bytes);
}

}  // namespace vramcalc

namespace vramcalc {

// transformers loss/loss_utils.py ForCausalLMLoss compiled (inside the model's graph, or on its
// own as torchtune training.compile_loss / torchtitan's compiled loss do): logits.float() and
// log_softmax are fused into the reductions, so neither the fp32 upcast nor the log-probs are
// stored; the partitioner keeps the logits (an mm output, or the graph input), the row max and
// log-sum-exp, and the padded labels.
LogitsLoss compiled_full_loss(const ModelConfig& m, const TrainingSetup& setup) {
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const Bytes T = checked_mul(setup.seq_len, setup.micro_batch);
  const Bytes V = m.vocab_size;
  const Bytes N = checked_mul(T, V);
  const Bytes el = pb.compute;
  const Bytes small = checked_add(checked_add(checked_product({8, setup.micro_batch, setup.seq_len + 1}), checked_mul(8, T)), 4);
  LogitsLoss out;
  out.saved = {"logits_loss", checked_add(checked_mul(el, N), small),
               fmt::format("{}·N logits + 8·b·(s+1) padded int64 labels + 8·T fp32 row max and log-sum-exp + 4 B (N = T·V = {} × {})", el,
                           T, V),
               std::string("transformers loss/loss_utils.py ForCausalLMLoss compiled; ") + kPartitioner, true};
  out.forward = out.saved;
  out.forward.formula = "the saved set: the upcast and log_softmax are fused into the reductions (no T·V temporary); " + out.saved.formula;
  // Measured (fp32 and bf16, tools/measure/FINDINGS.md): beside the saved set the loss graph's
  // backward returns the logits' gradient (e·N); inside the model's graph, where lm_head's
  // backward follows in the same graph, a second logits-sized buffer is alive with it.
  const Bytes buffers = setup.compile == Compile::kModel ? 2 : 1;
  const Bytes grads = checked_add(checked_product({buffers, el, N}), checked_mul(4, T));
  out.backward = {"logits_loss", checked_add(out.saved.bytes, grads),
                  fmt::format("saved {} B + {} × {}·N: the logits' gradient{} + 4·T (N = {} × {})", group_digits(out.saved.bytes), buffers, el,
                              buffers > 1 ? " and a second logits-sized buffer of the model graph's backward" : "", T, V),
                  "torch/_decomp/decompositions.py nll_loss_backward, _log_softmax_backward_data (inductor); " + std::string(kPartitioner),
                  true};
  return out;
}

void validate_compile(const ModelConfig& m, const TrainingSetup& setup) {
  if (setup.compile == Compile::kNone) return;
  const std::string value = to_string(setup.compile);
  if (setup.lora.enabled()) throw InputError(field::kCompile, value, "torch.compile with LoRA adapters is not modelled yet");
  if (setup.kernels.any()) throw InputError(field::kCompile, value, "torch.compile with Liger's fused kernels is not modelled yet");
  if (setup.grad_ckpt == GradCkpt::kSelective) {
    throw InputError(field::kCompile, value, "torch.compile with selective (core-attention) checkpointing is not modelled yet");
  }
  if (m.num_experts > 0) throw InputError(field::kCompile, value, "torch.compile of a mixture-of-experts model is not modelled yet");
  validate_compiled_op_sac(m, setup);
  if (compiles_blocks_apart(setup.compile) && setup.explicit_mask) {
    throw InputError(field::kCompile, value, "per-block compile with a padding or packed-document mask is not modelled yet");
  }
}

}  // namespace vramcalc
