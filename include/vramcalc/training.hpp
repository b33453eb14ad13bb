#pragma once
/// What the user trains with: precision regime, optimizer, sequence and batch, attention
/// kernel, activation checkpointing and loss implementation.

#include <cstdint>
#include <string>
#include <vector>

#include <vramcalc/adapters.hpp>
#include <vramcalc/compile.hpp>
#include <vramcalc/fp8.hpp>
#include <vramcalc/kernels.hpp>
#include <vramcalc/moe_routing.hpp>

namespace vramcalc {

/// How weights, gradients, optimizer states and activations are stored.
enum class Precision {
  kFp32,   ///< everything fp32
  kAmp,    ///< torch.autocast(bf16) over fp32 weights: 4+4 B/param + weight-cast cache
  kMixed,  ///< DeepSpeed/Megatron: bf16 params and grads, fp32 master + fp32 optimizer states
  kBf16,   ///< pure bf16: weights, grads and optimizer states all bf16
};

enum class Optimizer {
  kAdamW,       ///< torch.optim.AdamW, foreach (default): +1 param-sized temporary at the step
  kAdamWFused,  ///< torch.optim.AdamW(fused=True)
  kAdamW8bit,   ///< bitsandbytes block-wise 8-bit AdamW
  kSgd,         ///< plain SGD, no state
  kSgdMomentum, ///< SGD with a momentum buffer
  kAdafactor,   ///< HF Adafactor, factored second moment, beta1=None
  kLion,        ///< Lion: one momentum state
  kPagedAdamW32bit,  ///< bitsandbytes PagedAdamW32bit: fp32 states, large ones in CUDA unified memory
  kPagedAdamW8bit,   ///< bitsandbytes PagedAdamW8bit: block-wise 8-bit states, large ones in unified memory
  kAoAdamW8bit,      ///< torchao AdamW8bit: uint8 codes + fp32 scale per 256 (tensor subclass)
  kAoAdamW4bit,      ///< torchao AdamW4bit: packed 4-bit codes + fp32 scale per 128 (tensor subclass)
};

enum class Attention {
  kEager,  ///< HF eager_attention_forward: materialises the s×s scores (O(s²) memory)
  kSdpa,   ///< torch SDPA flash / memory-efficient kernels (O(s) memory)
  kFlash2, ///< flash-attn 2 (HF attn_implementation="flash_attention_2"): native GQA, no mask
  kFlash3, ///< flash-attn 3 (hopper/): fp32 GQA accumulators at the KV heads in backward
  kSdpaMath, ///< SDPA's math fallback: fp32 q, k, v and the s² probabilities saved
  kFlex,   ///< FlexAttention (compiled, as transformers runs it): logsumexp and a BlockMask, no s² tensor
};

enum class GradCkpt {
  kNone,       ///< every layer keeps all it saved for backward
  kFull,       ///< HF gradient_checkpointing: only each layer's input is kept
  kSelective,  ///< Megatron-style: only the core attention (s² part) is recomputed
  kOpSac,      ///< torchtitan op-level selective AC: keeps every other matmul's output and attention's
};

enum class LossImpl {
  kFull,     ///< HF ForCausalLMLoss: full logits, fp32 upcast, log-softmax saved
  kChunked,  ///< chunked cross-entropy (torchtune CEWithChunkedOutputLoss)
  kFused,    ///< fused linear cross-entropy (Liger / Cut Cross-Entropy): no full logits
  kVocabParallel,  ///< Megatron vocab_parallel_cross_entropy: one fp32 copy, softmax and its gradient in place
};

/// The training inputs of one estimate. Defaults follow the README's examples.
struct TrainingSetup {
  std::uint64_t seq_len = 2048;
  std::uint64_t micro_batch = 1;
  std::uint64_t grad_accum = 1;
  Precision precision = Precision::kMixed;
  Optimizer optimizer = Optimizer::kAdamW;
  Attention attention = Attention::kSdpa;
  GradCkpt grad_ckpt = GradCkpt::kNone;
  LossImpl loss = LossImpl::kFull;
  bool explicit_mask = false;           ///< an attention mask is passed (padding, packed documents)
  std::uint64_t loss_chunks = 8;        ///< chunks for LossImpl::kChunked (torchtune default 8)
  double fragmentation = 0.05;          ///< reserved = allocated × (1 + this); empirical, see overhead.hpp
  KernelSet kernels;                    ///< fused kernels (Liger) instead of HF's eager modules
  bool optimizer_in_backward = false;   ///< torchtune optimizer_in_bwd: each parameter stepped in its grad hook
  std::uint64_t ac_every = 1;           ///< with kFull: checkpoint every K-th layer (torchtitan selective_ac_option K)
  bool infer = false;                   ///< inference instead of training: weights, KV cache, prefill / decode
  std::uint64_t kv_bytes = 0;           ///< bytes per KV-cache element; 0 = the weights' dtype
  LoraSetup lora;                       ///< LoRA adapters on a frozen base (adapters.hpp); off by default
  bool offload_activations = false;     ///< torchtune OffloadActivations: saved tensors in pinned host memory (activation_offload.hpp)
  Compile compile = Compile::kNone;     ///< torch.compile: what the min-cut partitioner saves (compile.hpp)
  MoeRouting moe;                       ///< expert routing: imbalance, capacity factor, expert-parallel ranks
  double hidden_dropout = 0.0;          ///< dropout on the residual branches and the embedding (Megatron hidden_dropout): saved bool masks
  Fp8Recipe fp8 = Fp8Recipe::kNone;     ///< torchao float8 training of the Linears (fp8.hpp, ops_fp8.cpp)
  std::uint64_t fp8_amax_history = 1;   ///< Transformer Engine DelayedScaling amax_history_len (Megatron --fp8-amax-history-len, default 1)
  bool fp8_param_gather = false;        ///< Megatron --fp8-param-gather: TE Linear weights kept in fp8 (te_fp8.cpp)
  bool fp8_te = false;                  ///< derived by estimate(): --fp8 runs Transformer Engine's recipes (Megatron layout; te_fp8.cpp)
  std::uint64_t target_seq = 0;         ///< decoder length s_d of an encoder-decoder (T5's labels); 0 = none (seq_len is the encoder's)
  double dropout = -1.0;                ///< the model's dropout probability (T5 dropout_rate) overriding the config's; < 0 = the config's, 0 = off

  /// The dropout probability a T5 run trains with: the override, else the config's dropout_rate.
  double model_dropout(double config_rate) const { return dropout >= 0.0 ? dropout : config_rate; }

  std::uint64_t tokens() const { return seq_len * micro_batch; }  ///< T = s·b
};

/// Names used on the command line and in JSON, and their parsers. Each parser throws
/// InputError(field, value) listing the accepted names.
const char* to_string(Precision value);
const char* to_string(Optimizer value);
const char* to_string(Attention value);
const char* to_string(GradCkpt value);
const char* to_string(LossImpl value);
Precision parse_precision(const std::string& text);
Optimizer parse_optimizer(const std::string& text);
Attention parse_attention(const std::string& text);
GradCkpt parse_grad_ckpt(const std::string& text);
LossImpl parse_loss(const std::string& text);
/// Accepted names, in order, for help texts.
std::vector<std::string> precision_names();
std::vector<std::string> optimizer_names();
std::vector<std::string> attention_names();
std::vector<std::string> grad_ckpt_names();
std::vector<std::string> loss_names();
/// --kv-dtype: "auto" → 0 (the weights' dtype), bf16/fp16 → 2, fp32 → 4, fp8 → 1.
std::uint64_t parse_kv_dtype(const std::string& text);

}  // namespace vramcalc
