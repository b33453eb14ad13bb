// Output stage: lm_head logits and the cross-entropy loss.
// N = T·V logits. HF ForCausalLMLoss: logits (bf16, or fp32 in the fp32 regime) → .float()
// → log_softmax (saves its fp32 output) → nll_loss. HF Trainer drops the model output before
// backward, so the low-precision logits are gone when the loss backward runs.
#include <vramcalc/logits_loss.hpp>

#include <bit>

#include <fmt/format.h>

#include <vramcalc/model_states.hpp>

#include "core/loss_labels.hpp"
#include "core/ops_fused.hpp"

#include "core/ops_compiled.hpp"
#include "core/loss_vocab_parallel.hpp"
#include "core/encoder_decoder.hpp"

namespace vramcalc {

namespace {

// nll_loss_forward returns (output, total_weight); NllLossBackward0 saves the fp32 scalar
// total_weight until the loss backward (torch tools/autograd/derivatives.yaml nll_loss_forward).
constexpr Bytes kTotalWeight = 4;

// What every loss variant reads: N = T·V logits of `el` bytes, the fp32 upcast when the
// logits are not fp32, Gemma2's tanh soft-cap (one more logits-sized tensor).
struct LossShape {
  Bytes T, V, N, el, upcast, softcap;
  std::string softcap_note;
  Bytes lsm = 4;  // log_softmax element bytes: fp32 after the upcast, else the logits dtype
  ShiftedLabels labels{};  // ForCausalLMLoss's padded / shifted int64 labels (loss_labels.cpp)
};

LossShape shape_of(const ModelConfig& m, const TrainingSetup& setup) {
  const PrecisionBytes pb = precision_bytes(setup.precision);
  const Bytes T = checked_mul(output_seq(m, setup), setup.micro_batch);  // an encoder-decoder's logits: the decoder length
  const Bytes el = pb.compute;  // logits dtype: lm_head output (bf16 under autocast)
  const Bytes softcap = m.final_logit_softcapping > 0.0 ? el : 0;
  LossShape x{T, m.vocab_size, checked_mul(T, m.vocab_size), el, el == 4 ? Bytes{0} : Bytes{4}, softcap,
               softcap ? fmt::format(" + {}·N tanh soft-cap output", softcap) : ""};
  // The MLM heads call CrossEntropyLoss on the logits as they are: without autocast (which
  // runs cross_entropy in fp32) log_softmax and its grads stay in the logits dtype.
  if (m.loss_in_logits_dtype && setup.precision != Precision::kAmp) {
    x.upcast = 0;
    x.lsm = el;
  }
  if (m.head == ModelHead::kSeqCls) {  // one row of num_labels logits per sequence
    x.T = setup.micro_batch;
    x.V = m.num_labels;
    x.N = checked_mul(x.T, x.V);
  }
  x.labels = shifted_labels(m, setup);
  return x;
}

// The loss window's hole. The logits and their fp32 copy, allocated one after the other, are
// freed before backward (torchtitan `del pred`; HF Trainer.compute_loss drops the model output),
// leaving one free block of (e + 4)·N. nll_loss_backward's gradient takes it by best fit; the
// log_softmax gradient does not fit what is left, so the pool grows, and what is left stays
// reserved and free until the loss window's gradients are gone.
Term loss_window_hole(const LossShape& x) {
  if (x.upcast == 0 || x.softcap != 0) return {};
  const Bytes freed = checked_mul(x.N, x.el + x.upcast);
  const Bytes first = checked_mul(x.N, x.lsm);
  const Bytes left = freed > first ? freed - first : 0;
  if (left == 0 || left >= first) return {};
  return component_term(ComponentId::kLossWindowHole, left,
                        fmt::format("({} + {})·N freed logits and fp32 copy − {}·N nll gradient placed in them = {}·N the {}·N "
                                    "log_softmax gradient cannot use (N = {} × {})",
                                    x.el, x.upcast, x.lsm, left / x.N, x.lsm, x.T, x.V),
                        "c10/cuda/CUDACachingAllocator.cpp (best-fit get_free_block; a pool grows when no free block is large "
                        "enough, with or without expandable segments); free order: torchtitan train.py `del pred`, transformers "
                        "Trainer.compute_loss; estimated, not measured on a GPU (FINDINGS torchtitan-fsdp2)",
                        true);
}

// " + <labels formula>" when the loss makes its own labels (ForCausalLMLoss), else "".
std::string labels_note(const ShiftedLabels& l, Bytes bytes) {
  return l.forward == 0 ? std::string() : fmt::format(" + {} B {}", group_digits(bytes), l.formula);
}

LogitsLoss full_loss(const LossShape& x) {
  const Bytes N = x.N, T = x.T, V = x.V, el = x.el, upcast = x.upcast, softcap = x.softcap;
  const std::string& softcap_note = x.softcap_note;
  LogitsLoss out;
  const Bytes lsm = x.lsm;
  const Bytes tw = lsm == 4 ? kTotalWeight : lsm;  // total_weight has the loss dtype
  const Bytes fwd_per = el + upcast + lsm + softcap;
  const std::string src_labels = x.labels.forward ? "; " + x.labels.source : "";
  out.forward = {"logits_loss", checked_add(checked_add(checked_mul(N, fwd_per), tw), x.labels.forward),
                 fmt::format("{}·N logits + {}·N fp32 upcast + {}·N log_softmax output{} + {} B total_weight{} (N = T·V = {} × {})", el,
                             upcast, lsm, softcap_note, tw, labels_note(x.labels, x.labels.forward), T, V),
                 "transformers loss/loss_utils.py ForCausalLMLoss (logits.float(), cross_entropy)" + src_labels, true};
  out.saved = {"logits_loss", checked_add(checked_add(checked_mul(N, lsm + softcap), tw), x.labels.saved),
               fmt::format("{}·N log_softmax output{} + {} B total_weight{}", lsm, softcap_note, tw, labels_note(x.labels, x.labels.saved)),
               "torch log_softmax saves its result; NllLossBackward0 saves nll_loss_forward's fp32 total_weight" + src_labels, true};
  out.labels_saved = x.labels.saved;
  // The loss backward peak is log_softmax's backward: NllLossBackward0 has run and freed its target.
  out.backward = {"logits_loss", checked_add(checked_mul(N, 3 * lsm + softcap), tw),
                  fmt::format("{0}·N saved log-probs + {0}·N nll grad + {0}·N log_softmax grad{1} + {2} B total_weight (N = {3} × {4})",
                              lsm, softcap_note, tw, T, V),
                  "torch log_softmax_backward_data / nll_loss_backward (dense fp32 grads)", true};
  out.hole = loss_window_hole(x);
  return out;
}

LogitsLoss chunked_loss(const LossShape& x, const TrainingSetup& setup) {
  const Bytes N = x.N, T = x.T, V = x.V, el = x.el, upcast = x.upcast, softcap = x.softcap;
  const std::string& softcap_note = x.softcap_note;
  LogitsLoss out;
  const Bytes n = setup.loss_chunks;
  const Bytes chunk = ceil_div(N, n);
  const Bytes weights = checked_mul(n, kTotalWeight);  // one fp32 total_weight per chunk's cross_entropy
  const Bytes fwd = checked_add(checked_add(checked_mul(N, el + 4 + softcap), checked_mul(chunk, upcast)), weights);
  const Bytes bwd = checked_add(checked_add(checked_mul(N, 4 + softcap), checked_mul(chunk, 8)), weights);
  out.forward = {"logits_loss", fwd,
                 fmt::format("{}·N logits + 4·N log-probs (all chunks) + {}·N/{} upcast chunk{} (N = {} × {})", el, upcast, n,
                             softcap_note, T, V),
                 "torchtune modules/loss CEWithChunkedOutputLoss (per-chunk .float() + cross_entropy)", true};
  out.saved = {"logits_loss", checked_add(checked_mul(N, 4 + softcap), weights),
               fmt::format("4·N log-probs of all chunks{} + 4 B total_weight per chunk", softcap_note),
               "torchtune CEWithChunkedOutputLoss", true};
  out.backward = {"logits_loss", bwd,
                  fmt::format("4·N saved log-probs + 8·N/{} grads of one chunk{} (N = {} × {})", n, softcap_note, T, V),
                  "torchtune CEWithChunkedOutputLoss backward, chunk by chunk", true};
  return out;
}

// The weight-gradient update of one chunk (Liger >= 0.6.2, commit 2845fe83, accum_dtype None):
// `grad_weight += torch.mm(grad_logits_chunk.t(), _input_chunk).float()` — a V×h product in
// the logits dtype and its fp32 copy, alive together. fp32 logits: .float() is a no-op (4·V·h).
// Autocast (fp32 grad_weight, bf16 logits) takes the addmm(out_dtype=fp32, out=grad_weight)
// path on sm80+ with torch >= 2.8: no V×h temporary.
Bytes fused_weight_grad_temp(const PrecisionBytes& pb, Bytes vh) {
  if (pb.weight == 4 && pb.compute == 2) return 0;
  return checked_mul(vh, pb.compute == 4 ? 4 : pb.compute + 4);
}

LogitsLoss fused_loss(const LossShape& x, const ModelConfig& m, const TrainingSetup& setup) {
  const Bytes T = x.T, V = x.V;
  const PrecisionBytes pb = precision_bytes(setup.precision);
  LogitsLoss out;
  // Liger: chunk_size = next_pow2(ceil(T / ceil(V / h))); per chunk the logits are made,
  // turned into their gradient in place, and folded into grad_input and grad_weight.
  const Bytes chunk_tokens = liger_flce_chunk_tokens(T, V, m.hidden_size);
  const Bytes grad_input = checked_product({pb.compute, T, m.hidden_size});
  const Bytes grad_weight = checked_product({pb.weight, V, m.hidden_size});
  const Bytes chunk_logits = checked_product({pb.compute, std::min(chunk_tokens, T), V});
  const Bytes vh = checked_mul(V, m.hidden_size);
  const Bytes temp = fused_weight_grad_temp(pb, vh);
  out.forward = {"logits_loss", grad_input + grad_weight + chunk_logits + temp,
                 fmt::format("grad_input {}·T·h + lm_head grad {}·V·h + one chunk of logits {}·{}·V + chunk weight-grad product {}·V·h "
                             "(mm, then .float(), before the add)",
                             pb.compute, pb.weight, pb.compute, std::min(chunk_tokens, T), temp / vh),
                 "Liger-Kernel ops/fused_linear_cross_entropy.py (gradients computed in forward); Cut Cross-Entropy arXiv:2411.09009",
                 true};
  out.saved = {"logits_loss", grad_input + grad_weight, "grad_input + lm_head grad computed in the forward",
               "Liger-Kernel ops/fused_linear_cross_entropy.py", true};
  out.backward = {"logits_loss", grad_input + grad_weight,
                  fmt::format("grad_input {}·T·h + lm_head grad {}·V·h, kept from the forward", pb.compute, pb.weight),
                  "Liger-Kernel ops/fused_linear_cross_entropy.py backward (scales the stored gradients)", true};
  return out;
}

// Sequence classification (num_labels > 1: single_label_classification): CrossEntropyLoss over
// the b × num_labels logits as they are, the same log_softmax + nll_loss as above at N = b·n.
LogitsLoss classifier_loss(const LossShape& x) {
  LogitsLoss out = full_loss(x);
  const char* src = "transformers models/bert/modeling_bert.py BertForSequenceClassification.forward, models/roberta "
                    "RobertaForSequenceClassification.forward: CrossEntropyLoss()(logits.view(-1, num_labels), labels.view(-1))";
  for (Term* t : {&out.forward, &out.saved, &out.backward}) {
    t->formula += " — classification head: N = b·num_labels";
    t->source = src;
  }
  return out;
}

}  // namespace

LogitsLoss logits_loss(const ModelConfig& m, const TrainingSetup& setup) {
  const LossShape x = shape_of(m, setup);
  if (m.head == ModelHead::kSeqCls) return classifier_loss(x);
  if (compiles_loss(setup.compile) && setup.loss == LossImpl::kFull && !m.loss_in_logits_dtype && m.final_logit_softcapping == 0.0) {
    return compiled_full_loss(m, setup);
  }
  if (m.encoder_decoder() && setup.loss == LossImpl::kFull) {  // T5: the decoder's T_d tokens, the logits' own dtype
    LogitsLoss out = full_loss(x);
    out.forward.source = "transformers models/t5/modeling_t5.py T5ForConditionalGeneration.forward (CrossEntropyLoss on lm_logits over the decoder's tokens)";
    return out;
  }
  switch (setup.loss) {
    case LossImpl::kFull: return full_loss(x);
    case LossImpl::kChunked: return chunked_loss(x, setup);
    case LossImpl::kFused: return fused_loss(x, m, setup);
    case LossImpl::kVocabParallel: return vocab_parallel_loss(m, x.T, x.el);
  }
  return {};
}

}  // namespace vramcalc
