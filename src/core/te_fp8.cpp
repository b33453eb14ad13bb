// Transformer Engine (NVIDIA/TransformerEngine @d0067d0, 2026-08) under Megatron-LM (@d98e8a6):
// its cuBLAS workspace and FP8 training with TE's Linears. Estimated from code (TE does not run
// on the CPU); tools/measure/FINDINGS.md §40.
//
// What a TE Linear saves under fp8 (pytorch/module/linear.py _linear_forward_impl,
// layernorm_linear.py likewise): the input is quantized with rowwise and columnwise usage, the
// rowwise copy dropped before saving (`inputmat.update_usage(rowwise_usage=False,
// columnwise_usage=True)`; with sequence parallelism the local shard's rowwise fp8, re-gathered in
// backward): 1 B per element plus the Float8Tensor's 1-element fp32 scale_inv (a 512 B block of
// the caching allocator). The quantized weight (rowwise + columnwise = its transpose on Hopper) is
// cached in `_fp8_workspaces["weight"]` whenever Megatron passes is_first_microbatch (its default,
// disable_parameter_transpose_cache False): 2 B per weight element for the whole run.
#include "core/te_fp8.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr Bytes kBlock = 512;  // c10 CUDACachingAllocator kMinBlockSize: every allocation rounds up to it
constexpr const char* kTeLinear =
    "TransformerEngine pytorch/module/linear.py _linear_forward_impl (update_usage before saving), module/base.py "
    "_fp8_workspaces, quantize_weight; Megatron-LM core/extensions/transformer_engine.py TELinear.forward (is_first_microbatch)";
// Megatron's GPT layer with TE (core/models/gpt/gpt_layer_specs.py get_gpt_layer_with_transformer_engine_spec):
// linear_qkv, linear_proj, linear_fc1, linear_fc2 (num_gemms 1 each) and TEDotProductAttention (init_fp8_metadata(num_gemms=3)).
constexpr Bytes kLinearModules = 4;
constexpr Bytes kDpaGemms = 3;

Bytes blocks(Bytes n) { return checked_mul(ceil_div(n, kBlock), kBlock); }

bool ends_with(std::string_view s, std::string_view tail) { return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail; }

bool te_linear_weight(const ParamTensor& t) { return t.scope == ParamScope::kLayer && t.matmul && t.cols > 1 && t.experts == 0; }

// A saved bf16 tensor of `bytes` at `el` bytes per element, requantized: fp8 data + scale_inv.
void to_fp8(SavedTensor& t, Bytes el, const char* what) {
  const Bytes n = t.term.bytes / el;
  t.term.bytes = checked_add(blocks(n), kBlock);
  t.term.formula = fmt::format("1·n + 512 B: {} saved in fp8 (columnwise, or the sequence-parallel shard's rowwise) with "
                               "its fp32 scale_inv block, n = {}", what, group_digits(n));
  t.term.source = kTeLinear;
  t.term.estimated = true;
}

// Per TE module under DelayedScaling (module/base.py set_meta_tensor: 3 fp8 tensors per GEMM
// forward, 2 backward; quantization.py DelayedScalingRecipeState: scale (n) and amax_history
// (len × n) fp32): four allocations.
Bytes delayed_module(Bytes gemms, Bytes len) {
  const Bytes fwd = checked_mul(3, gemms), bwd = checked_mul(2, gemms);
  return checked_add(checked_add(blocks(4 * fwd), blocks(checked_product({4, len, fwd}))),
                     checked_add(blocks(4 * bwd), blocks(checked_product({4, len, bwd}))));
}

Bytes layers_of(const StepContext& ctx) { return ctx.model.num_layers; }

// Without --fp8-param-gather: the cached fp8 weight and its transpose (2·n + 512 per weight). With it
// the rowwise fp8 data is the parameter itself (in the param buffer); only the transpose that
// Megatron's post_all_gather_processing (core/fp8_utils.py → TE post_all_gather_processing) makes
// after each all-gather stays beside it, with its scale_inv: n + 512.
Bytes weight_cache(const StepContext& ctx) {
  Bytes b = 0;
  const Bytes copies = ctx.setup.fp8_param_gather ? 1 : 2;
  for (const ParamTensor& t : ctx.params.tensors) {
    if (!te_linear_weight(t)) continue;
    b = checked_add(b, checked_mul(t.count, checked_add(checked_mul(copies, blocks(t.numel())), kBlock)));
  }
  return b;
}

Bytes linear_weight_elements(const StepContext& ctx) {
  Bytes n = 0;
  for (const ParamTensor& t : ctx.params.tensors) {
    if (te_linear_weight(t)) n = checked_add(n, t.total());
  }
  return n;
}

Bytes scale_state(const StepContext& ctx) {
  if (ctx.setup.fp8 != Fp8Recipe::kDelayed) return 0;
  const Bytes len = ctx.setup.fp8_amax_history;
  const Bytes per_layer = checked_add(checked_mul(kLinearModules, delayed_module(1, len)), delayed_module(kDpaGemms, len));
  return checked_mul(per_layer, layers_of(ctx));
}

// The quantized copies in flight inside the largest Linear: forward, the input's rowwise +
// columnwise fp8 (2·T·d_in); backward, grad_output's (2·T·d_out); each with its scale_inv.
Bytes casts(const StepContext& ctx, bool backward) {
  Bytes best = 0;
  const Bytes T = ctx.setup.tokens();
  for (const ParamTensor& t : ctx.params.tensors) {
    if (!te_linear_weight(t)) continue;
    const Bytes width = backward ? t.rows : t.cols;
    best = std::max(best, checked_add(checked_mul(2, blocks(checked_mul(T, width))), kBlock));
  }
  return best;
}

}  // namespace

bool te_fp8(const TrainingSetup& s, const ParallelLayout& l) { return s.fp8 != Fp8Recipe::kNone && l.megatron != MegatronOptimizer::kNone; }

void validate_te_fp8(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  const std::string v = to_string(s.fp8);
  const auto refuse = [&](const char* why) { throw InputError(field::kFp8, v, why); };
  if (s.fp8 == Fp8Recipe::kRowwise) {
    refuse("Transformer Engine (Megatron-LM) has no rowwise recipe: use tensorwise (Float8CurrentScaling) or delayed "
           "(DelayedScaling); blockwise and mxfp8 are not modelled");
  }
  if (s.infer) refuse("fp8 training has no inference estimate; drop --fp8 with --infer");
  if (s.precision != Precision::kMixed && s.precision != Precision::kBf16) {
    refuse("Megatron's fp8 runs with --bf16 (bf16 parameters and activations): use --precision mixed or bf16");
  }
  if (s.lora.enabled()) refuse("fp8 with LoRA under Megatron-LM is not modelled");
  if (s.compile != Compile::kNone || s.kernels.any() || s.loss == LossImpl::kFused) {
    refuse("Transformer Engine fp8 with torch.compile or Liger's fused kernels is not modelled");
  }
  if (in.model.num_experts > 0) refuse("Transformer Engine fp8 of a mixture of experts (GroupedLinear) is not modelled");
  if (s.offload_activations || s.grad_ckpt == GradCkpt::kOpSac) refuse("Transformer Engine fp8 with activation offloading or op-level SAC is not modelled");
  if (in.gpu && in.gpu->arch != "sm89" && in.gpu->arch != "sm90") {
    refuse("Transformer Engine's Float8 recipes run on sm89 / sm90 (Ada, Hopper) as modelled; Blackwell's columnwise "
           "layout and GPUs without fp8 tensor cores are not");
  }
}

void validate_te_options(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  const ParallelLayout& l = in.layout;
  if (l.tp_comm_overlap && (l.megatron == MegatronOptimizer::kNone || l.tp < 2 || !l.sp)) {
    // Megatron training/arguments.py: tp-comm-overlap needs sequence parallelism (and TE).
    throw InputError(field::kTpCommOverlap, "true",
                     "Transformer Engine's GEMM/communication overlap runs under Megatron with tensor and sequence parallelism: "
                     "give --megatron-optimizer (or --recipe megatron), --tp > 1 and --sp");
  }
  if (s.fp8_param_gather && (s.fp8 == Fp8Recipe::kNone || in.layout.megatron != MegatronOptimizer::kDistributed)) {
    // Megatron training/arguments.py: --fp8-param-gather only with the distributed optimizer (or FSDP).
    throw InputError(field::kFp8ParamGather, "true",
                     "fp8 parameters are modelled for Transformer Engine fp8 with Megatron's distributed optimizer: give --fp8 "
                     "tensorwise|delayed and --megatron-optimizer distributed");
  }
  if (s.fp8_amax_history == 0) throw InputError(field::kFp8AmaxHistory, "0", "expected a history length of at least 1");
  if (s.fp8_amax_history != 1 && !(s.fp8 == Fp8Recipe::kDelayed && in.layout.megatron != MegatronOptimizer::kNone)) {
    throw InputError(field::kFp8AmaxHistory, std::to_string(s.fp8_amax_history),
                     "an amax history is kept only by Transformer Engine's delayed scaling: give --fp8 delayed with Megatron (--recipe megatron)");
  }
}

void te_fp8_saved(const TrainingSetup& s, const Dims& x, std::vector<SavedTensor>& out) {
  if (!s.fp8_te) return;
  const bool gated = std::any_of(out.begin(), out.end(), [](const SavedTensor& t) { return t.term.name == "mlp.product"; });
  std::vector<SavedTensor> added;
  for (SavedTensor& t : out) {
    const std::string& n = t.term.name;
    if (ends_with(n, ".output")) to_fp8(t, x.r, "the norm's output, the next Linear's input (LayerNormLinear ln_out)");
    else if (t.term.source == "torch nn.Linear saves its input") to_fp8(t, x.r, "the residual stream, the Linears' input");
    else if (n == (gated ? "mlp.product" : "mlp.act")) to_fp8(t, x.e, "the activation output, linear_fc2's input");
    else if (n == "attn.out") {
      SavedTensor copy = t;
      copy.term.name = "attn.out_fp8";
      to_fp8(copy, x.e, "linear_proj's input (the attention kernel keeps its bf16 output too)");
      added.push_back(copy);
    }
  }
  out.insert(out.end(), added.begin(), added.end());
}

std::vector<Term> te_fp8_terms(const StepContext& ctx) {
  if (!ctx.setup.fp8_te) return {};
  const bool delayed = ctx.setup.fp8 == Fp8Recipe::kDelayed;
  return {component_term(ComponentId::kTeFp8WeightCache, weight_cache(ctx),
                         ctx.setup.fp8_param_gather
                             ? "Σ over the rank's Linear weights of n + 512 B: the transpose (Hopper's columnwise) of each fp8 parameter, "
                               "made after its all-gather (--fp8-param-gather: the rowwise fp8 data is the parameter)"
                             : "Σ over the rank's Linear weights of 2·n + 512 B: the fp8 weight and its transpose (Hopper's columnwise) "
                               "with one scale_inv, cached across micro-batches (Megatron passes is_first_microbatch)",
                         kTeLinear, true),
          component_term(ComponentId::kFp8ScaleState, scale_state(ctx),
                         delayed ? fmt::format("DelayedScaling: per layer 4 Linears (1 GEMM) + DotProductAttention (3 GEMMs), each "
                                               "scale (3g, 2g fp32) and amax_history ({} × 3g, {} × 2g fp32), four 512 B-rounded "
                                               "allocations; × {} layers",
                                               ctx.setup.fp8_amax_history, ctx.setup.fp8_amax_history, layers_of(ctx))
                                 : std::string("Float8CurrentScaling keeps no scale or amax state (quantizers hold none)"),
                         "TransformerEngine pytorch/module/base.py set_meta_tensor, quantization.py DelayedScalingRecipeState / "
                         "Float8CurrentScalingRecipeState; dot_product_attention.py init_fp8_metadata(num_gemms=3)",
                         true),
          component_term(ComponentId::kTeFp8Casts, std::max(casts(ctx, false), casts(ctx, true)),
                         "the largest Linear's quantized copies in flight: forward 2·T·d_in (rowwise + columnwise input), "
                         "backward 2·T·d_out (rowwise + columnwise grad_output), + 512 B scale_inv",
                         "TransformerEngine pytorch/module/linear.py _linear_forward_impl / _linear_backward (grad_output quantizer usage)",
                         true)};
}

void te_fp8_param_gather(const StepContext& ctx, ModelStates& states) {
  if (!ctx.setup.fp8_te || !ctx.setup.fp8_param_gather) return;
  // core/distributed/param_and_grad_buffer.py: an fp8 parameter's buffer dtype is torch.uint8 and
  // TE's replace_raw_data points the Float8Tensor's _data into it (core/fp8_utils.py
  // modify_underlying_storage): 1 B instead of 2 B per Linear weight element.
  const Bytes n = linear_weight_elements(ctx);
  if (states.weights.bytes < n) return;
  states.weights.bytes -= n;
  states.weights.formula += fmt::format("; --fp8-param-gather: {} Linear weight elements stored as fp8 (1 B, not 2)", group_digits(n));
  states.weights.source += "; Megatron core/fp8_utils.py modify_underlying_storage, core/distributed/param_and_grad_buffer.py (uint8 fp8 params)";
  states.weights.estimated = true;
}

void te_fp8_at(Instant i, const StepContext& ctx, Moment& m) {
  if (!ctx.setup.fp8_te) return;
  m.add(ComponentId::kTeFp8WeightCache, weight_cache(ctx), "fp8 weights and transposes cached for the run");
  m.add(ComponentId::kFp8ScaleState, scale_state(ctx), "amax history and scales");
  switch (i) {
    case Instant::kForwardLastLayer: m.add(ComponentId::kTeFp8Casts, casts(ctx, false), "the Linear in flight's fp8 input"); break;
    case Instant::kBackwardLastMlp:
    case Instant::kBackwardFirstMlp:
    case Instant::kBackwardLastAttn:
    case Instant::kBackwardFirstAttn: m.add(ComponentId::kTeFp8Casts, casts(ctx, true), "the Linear in flight's fp8 grad_output"); break;
    default: break;
  }
}

Term with_te_cublas_workspace(Term t, const std::optional<GpuSpec>& gpu, const ParallelLayout& l) {
  if (l.megatron == MegatronOptimizer::kNone) return t;
  // cpp_extensions/gemm.py get_cublas_workspace_size_bytes: major >= 9: 32 MiB + 1024 B (TE >= 2.10,
  // e1edaaec2; 32 MiB + 256 B from 2.8, 32 MiB before), else 4 MiB; get_cublas_workspace is an
  // lru_cache per (device, ub, grouped): one torch.empty for every non-overlapped, non-grouped GEMM.
  const std::string arch = gpu ? gpu->arch : "sm90";
  const bool hopper = arch.rfind("sm", 0) == 0 && arch.size() >= 4 && std::stoi(arch.substr(2)) >= 90;
  const Bytes te = hopper ? blocks(32 * kMiB + 1024) : 4 * kMiB;
  t.bytes = checked_add(t.bytes, te);
  t.formula += fmt::format("; + Transformer Engine's workspace {} B ({}: one per device, Megatron's TE layers)", group_digits(te),
                           hopper ? "sm90+: 32 MiB + 1,024 B, allocator-rounded" : "4 MiB below sm90");
  if (l.tp_comm_overlap) {
    // get_cublas_workspace(ub=True): one torch.empty of size × _NUM_MAX_UB_STREAMS (3) for the
    // userbuffers GEMMs; the userbuffers themselves are cudaMalloc'd by TE's C++
    // (comm_gemm_overlap.cpp register_user_buffer_collective), outside PyTorch's allocator: not counted.
    const Bytes ub = checked_mul(3, hopper ? 32 * kMiB + 1024 : 4 * kMiB);
    t.bytes = checked_add(t.bytes, ub);
    t.formula += fmt::format("; + the userbuffers GEMMs' workspace 3 × that = {} B (--tp-comm-overlap; the userbuffers are "
                             "cudaMalloc'd outside PyTorch's allocator, not counted)", group_digits(ub));
  }
  t.source += "; TransformerEngine pytorch/cpp_extensions/gemm.py get_cublas_workspace_size_bytes, get_cublas_workspace";
  t.estimated = true;
  return t;
}

}  // namespace vramcalc
