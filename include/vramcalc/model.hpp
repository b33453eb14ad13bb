#pragma once
/// A decoder-only transformer, as read from a Hugging Face config.json, and its exact
/// parameter inventory.

#include <cstdint>
#include <string>
#include <vector>

#include <vramcalc/units.hpp>

namespace vramcalc {

/// The model families vramcalc models op for op. Each maps to one HF `model_type`; each is one
/// file in src/core/families/ (architecture.hpp).
enum class Family { kLlama, kMistral, kQwen2, kGemma, kGemma2, kPhi3, kGptNeox, kFalcon, kQwen3, kOlmo2,
                    kMixtral, kQwen2Moe, kQwen3Moe, kGpt2, kPhi, kStarcoder2, kGemma3, kBloom, kBert, kRoberta, kGptOss,
                    kDeepseekV2, kDeepseekV3, kT5, kMt5, kUmt5 };

/// The HF `model_type` string of a family ("llama", "gemma2", ...).
const char* family_name(Family family);
/// Comma-separated list of the supported `model_type` values, for error messages.
std::string supported_model_types();

/// The task head on the base model: the family's language-model head (causal LM; masked LM for
/// BERT / RoBERTa), or sequence classification (BertForSequenceClassification,
/// RobertaForSequenceClassification: a classifier of num_labels on the first token).
enum class ModelHead { kLm, kSeqCls };

/// Shape of one decoder-only model. Field names follow HF config.json; every size is
/// validated (positive, divisible where it must be) by the loader.
struct ModelConfig {
  std::string name;          ///< canonical name ("llama-3-8b") or the config's path
  std::string source;        ///< where the config came from (HF repo / file path)
  Family family = Family::kLlama;
  std::uint64_t hidden_size = 0;          ///< h
  std::uint64_t num_layers = 0;           ///< L
  std::uint64_t num_heads = 0;            ///< a (query heads)
  std::uint64_t num_kv_heads = 0;         ///< k (key/value heads; GQA when k < a)
  std::uint64_t head_dim = 0;             ///< d (config.head_dim, else h / a)
  std::uint64_t intermediate_size = 0;    ///< I (MLP inner size)
  std::uint64_t vocab_size = 0;           ///< V
  bool tie_word_embeddings = false;       ///< lm_head shares the embedding matrix
  bool attention_bias = false;            ///< bias on q/k/v/o (llama-style attention_bias)
  bool qkv_bias = false;                  ///< bias on q/k/v only (qwen2)
  bool mlp_bias = false;                  ///< bias on gate/up/down
  std::uint64_t sliding_window = 0;       ///< 0 = none; window of sliding-window layers
  std::uint64_t sliding_layers = 0;       ///< how many layers use the sliding window
  double attn_logit_softcapping = 0.0;    ///< gemma2: tanh soft-cap on attention scores
  double final_logit_softcapping = 0.0;   ///< gemma2: tanh soft-cap on logits
  std::string hidden_act = "silu";
  std::uint64_t rotary_dim = 0;           ///< dims of each head that RoPE rotates (partial rotary), else head_dim
  bool linear_bias = false;               ///< every Linear of the layer has a bias (GPT-NeoX, Falcon `bias`)
  bool parallel_block = false;            ///< attention and MLP read the same input (GPT-NeoX, Falcon)
  std::uint64_t block_norms = 2;          ///< norms before attention/MLP in a parallel block (Falcon-7B: 1)
  std::uint64_t checkpoint_dtype_bytes = 4;  ///< bytes per parameter of config.torch_dtype (fp32 when absent)
  // Mixture of experts (Mixtral, Qwen2-MoE, Qwen3-MoE): 0 experts = a dense model.
  std::uint64_t num_experts = 0;              ///< E routed experts per MoE layer
  std::uint64_t experts_per_token = 0;        ///< k (num_experts_per_tok)
  std::uint64_t moe_intermediate_size = 0;    ///< I_e, each routed expert's MLP width
  std::uint64_t shared_expert_intermediate_size = 0;  ///< I_s of the gated shared expert (Qwen2-MoE), 0 = none
  bool norm_topk_prob = false;                ///< the top-k probabilities are renormalised to sum to 1
  std::uint64_t max_position_embeddings = 0;  ///< rows of a learned absolute position table (GPT-2 wpe), else 0
  bool lm_head_bias = false;              ///< lm_head has a bias (Phi)
  bool output_router_logits = false;          ///< the load-balancing aux loss is computed (HF output_router_logits)
  std::uint64_t type_vocab_size = 0;      ///< rows of the token-type embedding (BERT, RoBERTa), else 0
  bool loss_in_logits_dtype = false;      ///< CrossEntropyLoss on the logits as they are, no .float() (BertForMaskedLM)
  bool attention_sinks = false;           ///< a learned sink logit per head joins each softmax row (gpt-oss `sinks`)
  bool mxfp4_experts = false;             ///< the checkpoint stores the routed experts in MXFP4 (quantization_config mxfp4)
  // Multi-head latent attention and DeepSeekMoE (deepseek_v2, deepseek_v3; head_dim is then d_nope + d_rope).
  std::uint64_t q_lora_rank = 0;          ///< r_q of q_a_proj / q_b_proj; 0 = a plain q_proj (DeepSeek-V2-Lite)
  std::uint64_t kv_lora_rank = 0;         ///< r_kv, the compressed KV latent (0 = not MLA)
  std::uint64_t qk_nope_head_dim = 0;     ///< d_nope
  std::uint64_t qk_rope_head_dim = 0;     ///< d_rope (the shared rotated key part)
  std::uint64_t v_head_dim = 0;           ///< d_v
  std::uint64_t first_k_dense_replace = 0;  ///< the first layers with a dense MLP of intermediate_size instead of MoE
  std::uint64_t router_groups = 0;        ///< DeepSeek n_group (> 1: group-limited routing)
  std::uint64_t router_topk_groups = 0;   ///< DeepSeek topk_group
  ModelHead head = ModelHead::kLm;        ///< the task head (model_head.hpp); kSeqCls: no lm_head, logits b × num_labels
  std::uint64_t num_labels = 0;           ///< classes of the sequence-classification head (config num_labels / id2label)
  std::uint64_t expert_shards = 1;        ///< expert parallelism: this rank holds num_experts / expert_shards routed experts
  // Encoder-decoder (T5, mT5, UMT5): num_layers is the encoder's stack, num_decoder_layers the decoder's.
  std::uint64_t num_decoder_layers = 0;   ///< layers of the decoder stack (T5 num_decoder_layers); 0 = no decoder stack
  std::uint64_t relative_attention_num_buckets = 0;  ///< rows of the relative position bias embedding (T5), else 0
  bool relative_bias_every_layer = false; ///< every self-attention has its own bias table (UMT5), not only layer 0 (T5)
  bool gated_mlp = false;                 ///< T5 feed_forward_proj "gated-<act>": wi_0, wi_1, wo (else wi, wo)
  double dropout_rate = 0.0;              ///< T5 config dropout_rate (T5Config default 0.1): every nn.Dropout of the stacks in training

  bool encoder_decoder() const { return num_decoder_layers > 0; }  ///< an encoder stack and a decoder stack (T5)

  std::uint64_t q_dim() const { return num_heads * head_dim; }       ///< a·d
  /// The output is a V-row lm_head tied to the input embedding (false for a classification head,
  /// whose model builds no output embedding to tie).
  bool output_tied() const { return tie_word_embeddings && head == ModelHead::kLm; }
  std::uint64_t kv_dim() const { return num_kv_heads * head_dim; }   ///< k·d
};

/// Where a parameter tensor sits in the model.
enum class ParamScope { kEmbedding, kLayer, kFinalNorm, kLmHead };

/// When a decoder layer's backward produces a parameter's gradient: at the layer's output
/// projection (first), after the attention block's output (MLP, o_proj, the norms between), or
/// at the layer's input side (q/k/v, input norm). Parameters outside the layers: kNone.
enum class BackwardRegion { kNone, kOutput, kAfterAttention, kInput };

/// One parameter tensor shape and how many the model has of it (one per layer, or one).
struct ParamTensor {
  std::string name;        ///< HF module path pattern, e.g. "layers.*.self_attn.q_proj.weight"
  std::uint64_t rows = 0;  ///< first dimension (out_features, or vocab for embeddings)
  std::uint64_t cols = 1;  ///< second dimension (in_features); 1 for vectors
  std::uint64_t count = 1; ///< number of such tensors in the model
  bool matmul = false;     ///< used by a Linear / matmul (autocast casts it)
  bool embedding = false;  ///< the input embedding table
  ParamScope scope = ParamScope::kLayer;
  bool trainable = true;   ///< gets a gradient and optimizer states
  BackwardRegion backward_region = BackwardRegion::kNone;
  std::uint64_t experts = 0;  ///< > 0: one 3-D tensor holding this many routed experts' weights (rows = experts × out)
  std::uint64_t dtype_bytes = 0;  ///< bytes per element when not the regime's (LoRA adapters: their dtype); 0 = regime's
  bool quantized = false;         ///< stored by the LoRA setup's base_quant (quantization.hpp), frozen

  std::uint64_t numel() const { return rows * cols; }
  std::uint64_t total() const { return rows * cols * count; }
};

/// Exact parameter inventory: every tensor, and the sums that the memory terms need.
struct ParameterCounts {
  std::vector<ParamTensor> tensors;
  std::uint64_t embedding = 0;      ///< V·h
  std::uint64_t lm_head = 0;        ///< V·h, or 0 when tied
  std::uint64_t per_layer = 0;      ///< one decoder layer
  std::uint64_t final_norm = 0;     ///< h
  std::uint64_t total = 0;          ///< every parameter, tied weights once
  std::uint64_t trainable = 0;      ///< parameters with a gradient and optimizer states
  std::uint64_t matmul_weights = 0; ///< parameters autocast casts (Linear weights/biases incl. lm_head)
  std::uint64_t largest_tensor = 0; ///< numel of the largest single tensor
  std::uint64_t largest_module = 0; ///< params owned directly by the largest module (DeepSpeed's "largest layer")
  std::uint64_t active_per_token = 0;  ///< parameters one token uses: routed experts count k of E (= total when dense)
  std::uint64_t routed_experts = 0;    ///< parameters of the routed experts (0 when dense)
};

/// Counts the parameters of `model` exactly, tensor by tensor, as HF builds the module.
ParameterCounts count_parameters(const ModelConfig& model);
/// The sums of ParameterCounts over an inventory (`tensors` as a family, plus adapters, builds it).
ParameterCounts sum_parameters(std::vector<ParamTensor> tensors, const ModelConfig& model);

}  // namespace vramcalc
