// Inference memory (no gradients, no optimizer): HF generate() with a DynamicCache.
// transformers cache_utils.py DynamicLayer.update: the first update stores the prompt's key and
// value states; every later one does torch.cat([old, new], dim=-2), so the grown K and V of one
// layer exist beside the old ones until the old are freed. generation/utils.py: the prefill
// asks for logits_to_keep=1 (the last position only) and copies them to fp32.
#include "core/inference.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/model_states.hpp>

namespace vramcalc {
namespace {

Bytes activation_bytes(const TrainingSetup& s) { return precision_bytes(s.precision).weight; }
Bytes kv_element_bytes(const TrainingSetup& s) { return s.kv_bytes != 0 ? s.kv_bytes : activation_bytes(s); }

// Cached tokens summed over the layers: full-attention layers keep all n; HF's
// DynamicSlidingWindowLayer keeps the last W − 1.
std::uint64_t layer_tokens(const ModelConfig& m, std::uint64_t n) {
  const std::uint64_t sliding = m.sliding_window ? std::min(m.sliding_layers, m.num_layers) : 0;
  const std::uint64_t kept = m.sliding_window ? std::min(n, m.sliding_window - 1) : n;
  return checked_add(checked_mul(m.num_layers - sliding, n), checked_mul(sliding, kept));
}

Term kv_cache_term(const ModelConfig& m, const TrainingSetup& s) {
  const Bytes b = kv_element_bytes(s);
  const std::uint64_t kd = checked_mul(m.num_kv_heads, m.head_dim);
  const Bytes bytes = checked_product({2, kd, layer_tokens(m, s.seq_len), s.micro_batch, b});
  return {"kv_cache", bytes,
          fmt::format("2 (K, V) × layers {} × kv heads {} × head_dim {} × seq {} × batch {} × {} B{}", m.num_layers, m.num_kv_heads,
                      m.head_dim, s.seq_len, s.micro_batch, b, m.sliding_window ? " (sliding layers: W − 1 tokens)" : ""),
          "transformers cache_utils.py DynamicLayer.update / DynamicSlidingWindowLayer (per layer key and value tensors)"};
}

Term kv_growth_term(const ModelConfig& m, const TrainingSetup& s) {
  const Bytes b = kv_element_bytes(s);
  // `self.keys = torch.cat(...)` frees the old keys before the values are concatenated: one
  // tensor of one layer is doubled at a time.
  const Bytes bytes = checked_product({m.num_kv_heads, m.head_dim, s.seq_len, s.micro_batch, b});
  return {"kv_cache_growth", bytes,
          fmt::format("torch.cat's new K (then V) of one layer beside the old: {} × {} × seq {} × batch {} × {} B", m.num_kv_heads,
                      m.head_dim, s.seq_len, s.micro_batch, b),
          "transformers cache_utils.py DynamicLayer.update (self.keys = torch.cat([self.keys, key_states], dim=-2))", true};
}

// Eager attention expands K and V to every query head (repeat_kv copies unless k = a).
Bytes eager_repeat_kv(const ModelConfig& m, const TrainingSetup& s, std::uint64_t tokens) {
  if (s.attention != Attention::kEager || m.num_kv_heads == m.num_heads) return 0;
  return checked_product({2, s.micro_batch, m.num_heads, tokens, m.head_dim, activation_bytes(s)});
}

// The prompt's forward without autograd: a layer's temporaries die as it returns. Alive around
// every layer: the model's inputs_embeds and the layer's input (held by LlamaModel.forward's loop),
// the residual and the normed input (4·T·h·b), and RoPE's cos and sin (2·s·d·b). MLP: act(gate),
// up and their product (3·T·I·b); attention: q, its RoPE temporary and the output (3·T·a·d·b),
// plus eager's masked scores and fp32 softmax (and its cast back when b < 4).
Term prefill_workspace_term(const ModelConfig& m, const TrainingSetup& s) {
  const Bytes b = activation_bytes(s);
  const std::uint64_t T = checked_mul(s.seq_len, s.micro_batch);
  const Bytes around = checked_add(checked_product({4, T, m.hidden_size, b}), checked_product({2, s.seq_len, m.head_dim, b}));
  const Bytes mlp = checked_add(around, checked_product({3, T, m.intermediate_size, b}));
  Bytes attn = checked_add(around, checked_product({3, T, m.num_heads, m.head_dim, b}));
  // softmax(dtype=float32) of a 16-bit input converts it first: masked scores + fp32 copy + output.
  const Bytes scores = b + 4 + (b < 4 ? 4 : 0);
  if (s.attention == Attention::kEager) {
    attn = checked_add(attn, checked_product({scores, s.micro_batch, m.num_heads, s.seq_len, s.seq_len}));
    attn = checked_add(attn, eager_repeat_kv(m, s, s.seq_len));
  }
  return {"layer_forward", std::max(mlp, attn),
          fmt::format("max(MLP 4·T·h·b + 2·s·d·b + 3·T·I·b = {}, attention 4·T·h·b + 2·s·d·b + 3·T·a·d·b{} = {}), T = {}, b = {} B",
                      group_digits(mlp), s.attention == Attention::kEager ? fmt::format(" + {}·B·a·s² + repeat_kv 2·T·a·d·b", scores) : "",
                      group_digits(attn), group_digits(T), b),
          "transformers models/llama/modeling_llama.py LlamaModel / LlamaMLP / LlamaAttention forward under torch.no_grad (derived)", true};
}

Term logits_term(const ModelConfig& m, const TrainingSetup& s) {
  const Bytes b = activation_bytes(s);
  return {"logits_loss", checked_product({s.micro_batch, m.vocab_size, b + 4}),
          fmt::format("last position only (logits_to_keep=1) and its fp32 copy: batch {} × V {} × ({} + 4) B", s.micro_batch,
                      group_digits(m.vocab_size), b),
          "transformers generation/utils.py (logits_to_keep=1; outputs.logits[:, -1, :].to(copy=True, dtype=torch.float32))"};
}

}  // namespace

void validate_inference(const EstimateInputs& in) {
  const TrainingSetup& s = in.setup;
  if (!s.infer) {
    if (s.kv_bytes != 0) throw InputError(field::kKvDtype, std::to_string(s.kv_bytes * 8) + "-bit", "applies to inference only");
    return;
  }
  const auto refuse = [](const char* why) { throw InputError(field::kInfer, "true", why); };
  if (in.layout.gpus > 1 || in.layout.zero.stage > 0) refuse("is modelled for one GPU (no data parallelism, no ZeRO)");
  if (s.precision == Precision::kAmp) refuse("needs the dtype the model is loaded in: precision bf16, mixed (bf16 weights) or fp32");
  if (s.optimizer_in_backward || s.grad_accum > 1 || s.grad_ckpt != GradCkpt::kNone || s.loss != LossImpl::kFull) {
    refuse("has no backward: no optimizer-in-backward, gradient accumulation, checkpointing or loss setting applies");
  }
}

Inference inference(const ModelConfig& model, const ParameterCounts& pc, const TrainingSetup& setup, const Term& cublas) {
  const Bytes w = activation_bytes(setup);
  const Term weights{"weights", checked_mul(pc.total, w), fmt::format("P × {} B = {} × {}", w, group_digits(pc.total), w),
                     "the model's parameters in the dtype it was loaded in"};
  const Term kv = kv_cache_term(model, setup);
  const Term growth = kv_growth_term(model, setup);
  const Term workspace = prefill_workspace_term(model, setup);
  const Term logits = logits_term(model, setup);
  Inference out;
  out.terms = {weights, kv, growth, workspace, logits, cublas};
  Moment load{Instant::kLoad, std::string(info(Instant::kLoad).label), {}};
  load.add(ComponentId::kWeights, weights.bytes);
  Moment prefill{Instant::kPrefill, std::string(info(Instant::kPrefill).label), {}};
  prefill.add(ComponentId::kWeights, weights.bytes);
  prefill.add(ComponentId::kKvCache, kv.bytes, "every layer's cache for the prompt");
  prefill.add(ComponentId::kLayerForward, workspace.bytes, "one layer's temporaries");
  prefill.add(ComponentId::kCublasWorkspace, cublas.bytes);
  Moment decode{Instant::kDecode, std::string(info(Instant::kDecode).label), {}};
  decode.add(ComponentId::kWeights, weights.bytes);
  decode.add(ComponentId::kKvCache, kv.bytes);
  decode.add(ComponentId::kKvCacheGrowth, growth.bytes, "the last layer's grown K and V before the old ones are freed");
  decode.add(ComponentId::kLogitsLoss, logits.bytes);
  decode.add(ComponentId::kLayerForward, eager_repeat_kv(model, setup, setup.seq_len), "eager attention's repeat_kv copies of the cache");
  decode.add(ComponentId::kCublasWorkspace, cublas.bytes);
  out.timeline = {load, prefill, decode};
  return out;
}

}  // namespace vramcalc
