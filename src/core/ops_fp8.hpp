#pragma once
// torchao float8 training (fp8.hpp): what a Float8Linear saves and the fp8 casts it makes.
#include <vramcalc/estimate.hpp>
#include <vramcalc/layout_policy.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/timeline.hpp>

namespace vramcalc {

/// One Float8Linear's shape: T tokens, d_in → d_out, `el` bytes per high-precision element.
struct Fp8Linear {
  Bytes tokens = 0, d_in = 0, d_out = 0, el = 2;
  bool weight_fp8 = false;  ///< the weight arrives as a Float8TrainingTensor (FSDP2 float8 all-gather): never cast
};

/// True when torchao's default filter converts this parameter's Linear (a matmul weight with in and
/// out features multiples of 16: torchtitan module_filter_fn).
bool fp8_converted(const ParamTensor& t);

/// --fp8-all-gather: InputError(field::kFp8AllGather) unless FSDP2 with tensorwise float8 (fsdp2_fp8.cpp).
void validate_fp8_all_gather(const EstimateInputs& in);

/// Bytes alive inside one Float8Linear at its forward / backward high-water mark beyond what a
/// plain Linear holds there, scales included (exact sums of the torchao 0.18 code path).
Bytes fp8_forward_peak(const Fp8Linear& l, Fp8Recipe recipe);
Bytes fp8_backward_peak(const Fp8Linear& l, Fp8Recipe recipe, bool count_grads);

/// True when torchao's default filter converts the lm_head (in and out features multiples of 16).
bool fp8_converts_head(const ModelConfig& m);

/// InputError(field::kFp8) for the combinations the float8 model does not cover.
void validate_fp8(const EstimateInputs& in);

/// The fp8_casts component's term (largest bytes over the step) with its formula and source.
Term fp8_term(const StepContext& ctx, const TrainingSetup& compute, const LogitsLoss& loss);

/// What the float8 casts add at instant `i` (nothing when setup.fp8 is none); `compute` is the
/// setup in the layout's compute dtype.
void fp8_at(Instant i, const StepContext& ctx, const TrainingSetup& compute, const LogitsLoss& loss, Moment& m);

/// Autocast's weight cache with float8 (amp): only an unconverted lm_head's bf16 cast.
void fp8_autocast_at(Instant i, const StepContext& ctx, Bytes head_params, Moment& m);

}  // namespace vramcalc
