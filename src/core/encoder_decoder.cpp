// Encoder-decoders (T5, mT5, UMT5): the target length, and which estimates are modelled.
#include "core/encoder_decoder.hpp"

#include <fmt/format.h>

#include <vramcalc/compile.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/fp8.hpp>
#include <vramcalc/kernels.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {
namespace {

// What t5_activations.cpp models: the combinations measured to the byte (tools/measure/FINDINGS.md
// §34). Each other one names itself and why it is refused.
void refuse_unmodelled(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  const std::string name = family_name(in.model.family);
  const auto refuse = [&](const char* field, const std::string& value, const std::string& why) {
    throw InputError(field, value, fmt::format("{} (encoder-decoder): {}", name, why));
  };
  if (s.infer) refuse(field::kInfer, "true", "inference (the encoder output and the decoder's self- and cross-attention KV caches) is not modelled");
  if (s.precision == Precision::kAmp && in.model.gated_mlp) {
    refuse(field::kPrecision, to_string(s.precision), "the gated FF under autocast (gelu_new's dtypes, wo's input cast) is not modelled; relu is");
  }
  if (s.attention != Attention::kEager) {
    refuse(field::kAttention, to_string(s.attention),
           "only eager attention is modelled: SDPA gets the position bias as a float mask that needs a gradient, which the CPU runs on the "
           "math path (measured) and CUDA on the memory-efficient kernel with a bias gradient (not measured); give --attention eager");
  }
  if (s.grad_ckpt != GradCkpt::kNone && s.grad_ckpt != GradCkpt::kFull) {
    refuse(field::kGradCkpt, to_string(s.grad_ckpt), "only full checkpointing of every T5Block (GradientCheckpointingLayer) is modelled");
  }
  if (s.grad_ckpt == GradCkpt::kFull && in.model.relative_bias_every_layer) {
    refuse(field::kGradCkpt, to_string(s.grad_ckpt), "full checkpointing of UMT5 (a position bias per layer, recomputed in every block) is not modelled");
  }
  if (s.grad_ckpt == GradCkpt::kFull && (s.ac_every > 1 || s.precision == Precision::kAmp)) {
    refuse(field::kGradCkpt, to_string(s.grad_ckpt),
           "checkpointing every K-th block, or under autocast (the fp32 encoder output and biases kept as checkpoint inputs), is not modelled");
  }
  if (in.model.gated_mlp && in.model.hidden_act != "gelu_new") {
    refuse(field::kModel, in.model.name,
           fmt::format("the gated FF with {} is not modelled; relu and gated-gelu (gelu_new) are", in.model.hidden_act));
  }
  if (!in.model.gated_mlp && in.model.hidden_act != "relu") {
    refuse(field::kModel, in.model.name, fmt::format("the FF with {} is not modelled; relu and gated-gelu (gelu_new) are", in.model.hidden_act));
  }
  if (s.lora.enabled()) refuse(field::kLoraRank, std::to_string(s.lora.rank), "LoRA on T5 is not modelled");
  if (s.compile != Compile::kNone) refuse(field::kCompile, to_string(s.compile), "torch.compile of T5 is not modelled");
  if (s.kernels.any()) refuse(field::kKernels, describe(s.kernels), "fused kernels on T5 are not modelled");
  if (s.loss != LossImpl::kFull) refuse(field::kLoss, to_string(s.loss), "only the full cross-entropy over T_d × V logits is modelled");
  if (s.offload_activations) refuse(field::kOffloadActivations, "true", "activation offloading of T5 is not modelled");
  if (s.hidden_dropout > 0.0) {
    refuse(field::kHiddenDropout, fmt::format("{}", s.hidden_dropout),
           "Megatron's hidden dropout is not T5's: T5's dropout is its config's dropout_rate, overridden by training.dropout");
  }
  if (s.fp8 != Fp8Recipe::kNone) refuse(field::kFp8, to_string(s.fp8), "float8 training of T5 is not modelled");
  const ParallelLayout& l = in.layout;
  if (l.tp > 1 || l.pp > 1 || l.cp > 1 || l.ep > 1) {
    refuse(field::kTp, fmt::format("tp {} pp {} cp {} ep {}", l.tp, l.pp, l.cp, l.ep), "model parallelism of T5 is not modelled");
  }
  if (l.fsdp.version != 0) refuse(field::kFsdp, std::to_string(l.fsdp.version), "FSDP's per-block gathers of the two stacks are not modelled");
  if (l.zero.stage == 3) refuse(field::kZeroStage, "3", "ZeRO-3's per-block gathers of the two stacks are not modelled");
}

// training.dropout overrides a T5 config's dropout_rate: a probability, and only for T5 (other
// families' dropout is Megatron's hidden dropout, training.hidden_dropout).
void validate_model_dropout(const EstimateInputs& in) {
  const double p = in.setup.dropout;
  if (p < 0.0) return;
  if (!(p < 1.0)) throw InputError(field::kDropout, fmt::format("{}", p), "must be a probability in [0, 1)");
  if (!in.model.encoder_decoder()) {
    throw InputError(field::kDropout, fmt::format("{}", p),
                     fmt::format("{} has no config dropout_rate that vramcalc models: it overrides t5, mt5 and umt5's (Megatron's "
                                 "residual dropout is training.hidden_dropout)", in.model.name));
  }
}

}  // namespace

// T5ForConditionalGeneration runs the encoder over the input (seq_len) and the decoder over the
// labels (target_seq), each decoder block attending to the encoder output (transformers
// models/t5/modeling_t5.py T5Block, T5LayerCrossAttention).
void validate_encoder_decoder(const EstimateInputs& in) {
  const std::uint64_t target = in.setup.target_seq;
  validate_model_dropout(in);
  if (!in.model.encoder_decoder()) {
    if (target == 0) return;
    throw InputError(field::kTargetSeq, std::to_string(target),
                     fmt::format("{} is not an encoder-decoder: the target length is for t5, mt5 and umt5", in.model.name));
  }
  if (target == 0) {
    throw InputError(field::kTargetSeq, "none",
                     fmt::format("{} is an encoder-decoder ({} encoder + {} decoder layers): give the decoder length (tokens of the "
                                 "labels) as well as the encoder's sequence length",
                                 family_name(in.model.family), in.model.num_layers, in.model.num_decoder_layers));
  }
  (void)checked_product({target, in.setup.micro_batch, in.setup.seq_len, in.model.num_heads, 16});
  refuse_unmodelled(in);
}

std::uint64_t output_seq(const ModelConfig& m, const TrainingSetup& setup) {
  return m.encoder_decoder() && setup.target_seq > 0 ? setup.target_seq : setup.seq_len;
}

}  // namespace vramcalc
