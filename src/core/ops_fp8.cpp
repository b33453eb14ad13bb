// torchao float8 training (torchao 0.18, torchao/float8/float8_linear.py matmul_with_hp_or_float8_args).
//
// Saved for backward: ctx.save_for_backward(input_hp, weight_hp_t) — the high-precision input (the
// bf16 .to() of it under autocast, Float8Linear.forward) and a view of the weight parameter, exactly
// what F.linear saves; no fp8 tensor is kept (torchao >= 0.13, c6de9b4, recasts everything in backward).
// So the saved activations equal the plain Linear's; what changes is what lives while a Float8Linear
// runs: every cast (float8_training_tensor.py _ToFloat8ConstrFunc + float8_utils.py to_fp8_saturated)
// holds `tensor.to(float32) * scale` (4 B/elt), its clamp (4 B/elt) and the fp8 result (1 B/elt) at
// once: 9 B per element of the cast tensor, beside the fp8 tensors of the same matmul made before it.
// Measured on the CPU (tools/measure/FINDINGS.md §37): the lm_head backward's second grad_output cast
// is the step's backward peak of the h128 / vocab 4096 records.
#include "core/ops_fp8.hpp"
#include "core/te_fp8.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {

bool fp8_converted(const ParamTensor& t) { return t.matmul && t.cols > 1 && t.rows % 16 == 0 && t.cols % 16 == 0; }

namespace {

constexpr Bytes kCast = 9;  // fp32 scaled copy (4) + its clamp (4) + the fp8 result (1), per element

bool rowwise(Fp8Recipe r) { return r == Fp8Recipe::kRowwise; }

// An fp32 scale: one per tensor (0-dim), or one per row / column under the rowwise recipe.
Bytes scale(Fp8Recipe r, Bytes n) { return rowwise(r) ? checked_mul(4, n) : 4; }

// float8_ops.py addmm_float8_unwrapped with rowwise scales and use_fast_accum False (the grad_input
// and grad_weight gemms; Float8GemmConfig defaults): post_inverse_scale = a_inv_scale * b_inv_scale
// is an fp32 rows × cols tensor; with fp32 high precision the product is made in bf16, then .to(fp32).
Bytes mm_temp(Fp8Recipe r, Bytes rows, Bytes cols, Bytes el) {
  if (!rowwise(r)) return 0;
  const Bytes n = checked_mul(rows, cols);
  return checked_add(checked_mul(4, n), el == 4 ? checked_mul(2, n) : 0);
}

bool converted(const ParamTensor& t) { return fp8_converted(t); }

// The largest forward or backward peak over the converted Linears of one decoder layer.
Bytes layer_peak(const StepContext& ctx, const TrainingSetup& compute, bool backward) {
  const Bytes el = precision_bytes(compute.precision).compute;
  Bytes best = 0;
  for (const ParamTensor& t : ctx.params.tensors) {
    if (t.scope != ParamScope::kLayer || !converted(t)) continue;
    const Fp8Linear l{.tokens = compute.tokens(), .d_in = t.cols, .d_out = t.rows, .el = el, .weight_fp8 = ctx.layout.fsdp.fp8_all_gather};
    best = std::max(best, backward ? fp8_backward_peak(l, compute.fp8, false) : fp8_forward_peak(l, compute.fp8));
  }
  return best;
}

Fp8Linear head_linear(const StepContext& ctx, const TrainingSetup& compute) {
  return {.tokens = compute.tokens(), .d_in = ctx.model.hidden_size, .d_out = ctx.model.vocab_size,
          .el = precision_bytes(compute.precision).compute, .weight_fp8 = ctx.layout.fsdp.fp8_all_gather};
}

// The lm_head's forward casts happen before the loss exists: at the loss instant the component
// holds what the head's casts exceed the loss's working set by, so that the instant's total is the
// larger of the two moments.
Bytes head_forward_excess(const StepContext& ctx, const TrainingSetup& compute, const LogitsLoss& loss) {
  if (!fp8_converts_head(ctx.model)) return 0;
  const Bytes peak = fp8_forward_peak(head_linear(ctx, compute), compute.fp8);
  return peak > loss.forward.bytes ? peak - loss.forward.bytes : 0;
}

}  // namespace

Bytes fp8_forward_peak(const Fp8Linear& l, Fp8Recipe r) {
  const Bytes i = checked_mul(l.tokens, l.d_in), w = checked_mul(l.d_in, l.d_out), o = checked_mul(l.tokens, l.d_out);
  const Bytes in0 = checked_add(i, scale(r, l.tokens));  // input cast along dim -1: (T, 1) scales
  const Bytes f1 = checked_add(checked_mul(kCast, i), scale(r, l.tokens));
  // the weight's cast (none when FSDP2 gathered it in fp8: the unsharded parameter is the fp8 tensor)
  const Bytes wc = l.weight_fp8 ? 0 : checked_mul(kCast, w), wf = l.weight_fp8 ? 0 : checked_add(w, scale(r, l.d_out));
  const Bytes f2 = l.weight_fp8 ? 0 : checked_add(in0, checked_add(wc, scale(r, l.d_out)));
  // the output gemm uses fast accumulation (no post-scale); rowwise with fp32: a bf16 product first
  const Bytes f3 = checked_add(checked_add(in0, wf), rowwise(r) && l.el == 4 ? checked_mul(2, o) : 0);
  return std::max({f1, f2, f3});
}

Bytes fp8_backward_peak(const Fp8Linear& l, Fp8Recipe r, bool count_grads) {
  const Bytes T = l.tokens, i = checked_mul(T, l.d_in), w = checked_mul(l.d_in, l.d_out), o = checked_mul(T, l.d_out);
  const Bytes go0 = checked_add(o, scale(r, T));            // grad_output cast along dim -1
  const Bytes wgi = l.weight_fp8 ? 0 : checked_add(w, scale(r, l.d_in));  // weight cast again, for grad_input
  const Bytes gi = count_grads ? checked_mul(i, l.el) : 0;  // grad_input (a plain Linear makes it too)
  const Bytes go1 = checked_add(o, scale(r, l.d_out));      // grad_output cast along dim 0
  const Bytes in1 = checked_add(i, scale(r, l.d_in));       // input cast along dim 0
  const Bytes held = checked_add(go0, wgi);
  const Bytes s1 = checked_add(checked_mul(kCast, o), scale(r, T));
  const Bytes s2 = l.weight_fp8 ? 0 : checked_add(go0, checked_add(checked_mul(kCast, w), scale(r, l.d_in)));
  // grad_input gemm: the weight's fp8 made column-major by a copy (float8_ops.py preprocess_addmm)
  const Bytes s3 = checked_add(checked_add(held, w), checked_add(mm_temp(r, T, l.d_in, l.el), gi));
  const Bytes s4 = checked_add(checked_add(held, gi), checked_add(checked_mul(kCast, o), scale(r, l.d_out)));
  const Bytes s5 = checked_add(checked_add(held, gi), checked_add(go1, checked_add(checked_mul(kCast, i), scale(r, l.d_in))));
  // grad_weight gemm: grad_output.t() and the input made row- / column-major by copies
  const Bytes gw = checked_add(mm_temp(r, l.d_out, l.d_in, l.el), count_grads ? checked_mul(w, l.el) : 0);
  const Bytes s6 = checked_add(checked_add(checked_add(held, gi), checked_add(go1, in1)), checked_add(checked_add(o, i), gw));
  return std::max({s1, s2, s3, s4, s5, s6});
}

bool fp8_converts_head(const ModelConfig& m) { return m.vocab_size % 16 == 0 && m.hidden_size % 16 == 0; }

Term fp8_term(const StepContext& ctx, const TrainingSetup& compute, const LogitsLoss& loss) {
  const Bytes layer_bwd = layer_peak(ctx, compute, true), layer_fwd = layer_peak(ctx, compute, false);
  const bool head = fp8_converts_head(ctx.model);
  const Bytes head_bwd = head ? fp8_backward_peak(head_linear(ctx, compute), compute.fp8, true) : 0;
  const Bytes bytes = std::max({layer_bwd, layer_fwd, head_bwd, head_forward_excess(ctx, compute, loss)});
  const char* r = to_string(compute.fp8);
  return component_term(
      ComponentId::kFp8Casts, bytes,
      fmt::format("torchao Float8Linear ({}): saves the high-precision input and the weight view (as F.linear; no fp8 tensor "
                  "is saved); each cast of n elements holds 9·n (fp32 scaled 4 + clamp 4 + fp8 1); backward of lm_head "
                  "(T·V = o, V·h = w, T·h = i): max of 9·o; o + 9·w; o + 2·w (+ col-major copy) + grad_input; o + w + "
                  "grad_input + 9·o; … + o + 9·i; … + o + i + copies + grad_weight {}: {} B; a layer's largest Linear: "
                  "backward {} B, forward max(9·i, i + 9·w) {} B{}{}",
                  r, rowwise(compute.fp8) ? "(+ fp32 scales per row/column and rowwise post-scales 4·rows·cols)" : "(+ 4 B scales)",
                  group_digits(head_bwd), group_digits(layer_bwd), group_digits(layer_fwd),
                  head ? "" : "; lm_head not converted (a dim not a multiple of 16)",
                  ctx.layout.fsdp.fp8_all_gather ? "; FSDP2 float8 all-gather: no weight cast (the 9·w and w terms drop: the "
                                                   "gathered weight is already a Float8TrainingTensor)" : ""),
      "torchao 0.18 float8/float8_linear.py matmul_with_hp_or_float8_args, float8_training_tensor.py _ToFloat8ConstrFunc, "
      "float8_utils.py to_fp8_saturated, float8_ops.py addmm_float8_unwrapped / preprocess_addmm; measured: "
      "tools/measure/FINDINGS.md §37; float8 all-gather: matmul_with_hp_or_float8_args tensor_already_casted_to_fp8(weight_hp_t), "
      "fsdp_utils.py fsdp_post_all_gather (measured on 2- and 4-rank CPU runs: FINDINGS §38)",
      true);
}

void fp8_at(Instant i, const StepContext& ctx, const TrainingSetup& s, const LogitsLoss& loss, Moment& m) {
  if (s.fp8 == Fp8Recipe::kNone || s.fp8_te) return te_fp8_at(i, ctx, m);
  const char* note = "the fp8 casts of the Linear in flight";
  switch (i) {
    case Instant::kForwardLoss:
      m.add(ComponentId::kFp8Casts, head_forward_excess(ctx, s, loss), "lm_head's forward casts, beyond the loss's working set");
      break;
    case Instant::kForwardLastLayer: m.add(ComponentId::kFp8Casts, layer_peak(ctx, s, false), note); break;
    case Instant::kBackwardHead:
      if (fp8_converts_head(ctx.model)) {
        m.add(ComponentId::kFp8Casts, fp8_backward_peak(head_linear(ctx, s), s.fp8, true),
              "lm_head's backward: fp8 casts of the logits' gradient and the weight, grad_input");
      }
      break;
    case Instant::kBackwardLastMlp:
    case Instant::kBackwardFirstMlp:
    case Instant::kBackwardLastAttn:
    case Instant::kBackwardFirstAttn: m.add(ComponentId::kFp8Casts, layer_peak(ctx, s, true), note); break;
    default: break;
  }
}

void validate_fp8(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  validate_te_options(in);
  if (s.fp8 == Fp8Recipe::kNone) return;
  if (te_fp8(s, in.layout)) return validate_te_fp8(in);
  const std::string v = to_string(s.fp8);
  if (s.fp8 == Fp8Recipe::kDelayed) {
    // torchao removed delayed (amax-history) scaling in v0.10 (commit d370196).
    throw InputError(field::kFp8, v, "delayed scaling is Transformer Engine's (Megatron-LM: --recipe megatron or --megatron-optimizer ddp|distributed); "
                                     "torchao removed it in 0.10: use tensorwise or rowwise");
  }
  const auto refuse = [&](const char* why) { throw InputError(field::kFp8, v, why); };
  if (s.infer) refuse("float8 training has no inference estimate; drop --fp8 with --infer");
  if (s.lora.enabled()) refuse("float8 training of a LoRA / QLoRA base is not modelled (torchao converts nn.Linear, PEFT wraps it)");
  if (s.compile != Compile::kNone) {
    refuse("float8 under torch.compile is not modelled: the partitioner may save the fp8 casts instead of the input (unmeasured)");
  }
  if (s.kernels.any() || s.loss == LossImpl::kFused) refuse("float8 with Liger's fused kernels or the fused linear cross-entropy is not modelled");
  if (in.model.num_experts > 0) refuse("float8 training of a mixture of experts is not modelled (torchtitan converts grouped experts separately)");
  if (in.model.head != ModelHead::kLm) refuse("float8 training is modelled for causal-LM heads only");
  if (s.offload_activations) refuse("float8 with activation offloading is not modelled");
  if (s.grad_ckpt == GradCkpt::kOpSac) refuse("float8 with torchtitan's op-level SAC (which also saves the amax outputs) is not modelled");
  if (in.layout.has_model_parallel() || in.layout.ep > 1) {
    refuse("float8 with tensor, context, pipeline or expert parallelism is not modelled (float8 DTensor casts)");
  }
  if (s.precision == Precision::kAmp) {
    for (const ParamTensor& t : count_parameters(in.model).tensors) {
      if (t.scope == ParamScope::kLayer && t.matmul && t.cols > 1 && !converted(t)) {
        refuse("with amp every decoder Linear must be converted (dims multiples of 16): a kept autocast weight cast is not modelled");
      }
    }
  }
}

// Autocast caches no weight of a Float8Linear (its forward casts only the input to the autocast
// dtype; the matmul runs on the fp32 parameter's fp8 casts): only an lm_head left high precision
// keeps its bf16 cast (validate_fp8 requires every decoder Linear converted under amp).
void fp8_autocast_at(Instant i, const StepContext& ctx, Bytes head_params, Moment& m) {
  if (fp8_converts_head(ctx.model) || head_params == 0) return;
  if (i == Instant::kForwardLoss || i == Instant::kBackwardLoss || i == Instant::kBackwardHead) {
    m.add(ComponentId::kAutocastCache, checked_mul(head_params, 2), "only lm_head's cast: the Float8Linears keep none");
  }
}

}  // namespace vramcalc
