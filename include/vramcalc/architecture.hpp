#pragma once
/// Architectures as data. A model family is its parameter tensors and its decoder layer as a
/// list of ops (norms, the Linears' inputs, the attention block, the MLP). Each op kind knows
/// what autograd saves for it and what its backward allocates (src/core/ops.cpp); each family
/// is one file in src/core/families/ that lists its tensors and ops.

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <vramcalc/model.hpp>

namespace vramcalc {

enum class NormKind {
  kRms,           ///< LlamaRMSNorm: fp32 x, rsqrt; x·rstd cast back to the input dtype, then `weight *`
  kRmsFp32Scale,  ///< Gemma (1 + w) / OLMo2 (w · x in fp32): the fp32 normalised tensor is saved
  kLayerNorm,     ///< nn.LayerNorm: saves its input and per-row mean and rstd (fp32 on CUDA)
};

/// A normalisation. `width` elements per row; its output is read by `consumers` Linears (0: it
/// feeds a residual add or the attention's RoPE, and nobody saves it).
struct NormOp {
  std::string name;
  NormKind kind = NormKind::kRms;
  std::uint64_t width = 0;
  std::uint64_t rows_per_token = 1;  ///< per-head norms (Qwen3 QK-norm) have one row per head
  std::uint64_t consumers = 0;
  bool input_in_compute_dtype = false;  ///< normalises a projection output (QK-norm), not the residual
  bool input_already_saved = false;     ///< LayerNorm whose input another norm of the layer saved
  BackwardRegion region = BackwardRegion::kInput;
  bool frozen_weight = false;  ///< the weight needs no grad: `weight *` saves nothing (LoRA's frozen base)
};

/// The residual stream read directly by `consumers` Linears (no norm in between: OLMo2).
struct LinearInputOp {
  std::string name;
  std::uint64_t consumers = 1;
  BackwardRegion region = BackwardRegion::kInput;
};

/// The attention block from the projections' outputs to o_proj's input.
struct AttentionOp {
  bool fused_qkv = false;        ///< one qkv Linear: v is a view of its output
  bool always_masked = false;    ///< the model always passes a materialised mask (Falcon)
  bool rope = true;              ///< q and k are rotated (new tensors); false: q, k, v are views of the projections (GPT-2)
  bool softmax_in_input_dtype = false;  ///< eager softmax without dtype=float32 (GPT-2): the probabilities stay in e
  bool eager_only = false;       ///< no SDPA path in transformers (BLOOM's ALiBi attention): always eager
  bool bidirectional = false;    ///< encoder self-attention (BERT): no causal mask, none at all without padding
  bool mla = false;              ///< multi-head latent attention (DeepSeek-V2/V3): ops_mla.cpp, dims from the model
};

enum class MlpKind {
  kGated,       ///< down(act(gate(x)) · up(x))
  kFusedGated,  ///< gate_up(x).chunk(2), then as kGated (Phi-3)
  kPlain,       ///< fc2(act(fc1(x))) (GPT-NeoX, Falcon)
  kMoe,         ///< router + top-k routed gated experts (+ a gated shared expert) (Mixtral, Qwen-MoE)
};

struct MlpOp {
  MlpKind kind = MlpKind::kGated;
  // kMoe only:
  std::uint64_t experts = 0;          ///< E
  std::uint64_t top_k = 0;            ///< k
  std::uint64_t expert_width = 0;     ///< I_e
  std::uint64_t shared_width = 0;     ///< I_s of the sigmoid-gated shared expert, 0 = none
  bool renormalize = false;           ///< top-k probabilities divided by their sum (in place)
  bool fp32_routing_weights = false;  ///< routing weights stay fp32 (Mixtral) instead of the hidden dtype
  /// Extra T·I tensors the activation saves beyond its input: 3 for GELU written in Python
  /// (transformers NewGELUActivation, "gelu_new": tanh output, 1 + tanh, 0.5·x), else 0.
  std::uint64_t act_extra = 0;
  bool product_saved = true;  ///< the second Linear saves its input (false: frozen and unadapted)
  /// kMoe, gpt-oss: the router is a biased Linear whose top-k logits get a softmax over k (GptOssTopKRouter)
  /// and the experts carry biases and a clamped SwiGLU, (clamp(up) + 1) · glu (GptOssExperts._apply_gate).
  bool gpt_oss = false;
  /// kMoe: the router (MoeRouter) and whether the shared expert is ungated (DeepSeek: added as it is).
  enum class Router { kSoftmax, kDeepseekSoftmax, kDeepseekSigmoid } router = Router::kSoftmax;
  bool shared_ungated = false;
  std::uint64_t router_topk_groups = 0;  ///< DeepSeek topk_group: the groups kept
  std::uint64_t router_groups = 0;  ///< DeepSeek group-limited routing (n_group > 1): the masked_fill keeps a bool T×E mask
  std::uint64_t local_experts = 0;  ///< kMoe: routed experts on this rank (expert parallelism), 0 = all E
};

/// The int64 id tensors an encoder's embeddings save (BERT: token types gathered from a buffer;
/// RoBERTa: positions computed from the input ids, and the token types gathered by them).
enum class EncoderIds { kNone, kBert, kRoberta };

using LayerOp = std::variant<NormOp, LinearInputOp, AttentionOp, MlpOp>;

/// One decoder layer, in forward order.
struct LayerSpec {
  std::vector<LayerOp> ops;
  NormKind final_norm = NormKind::kRms;  ///< the norm after the last layer (feeds lm_head)
  bool rope_tables_fp32 = false;         ///< cos/sin stay fp32 (OLMo2) instead of the hidden dtype
  std::uint64_t rope_tables = 1;         ///< cos/sin table pairs alive (Gemma 3: global and local), 0 without RoPE
  bool learned_positions = false;        ///< absolute position embedding (GPT-2 wpe): its backward saves the position ids
  bool embedding_layernorm = false;      ///< a LayerNorm right after the embedding (BLOOM word_embeddings_layernorm)
  bool mlm_head = false;                 ///< masked-LM head: transform Linear + GELU before final_norm (BERT, RoBERTa)
  EncoderIds encoder_ids = EncoderIds::kNone;
  bool rope_half_tables = false;         ///< cos/sin hold rotary_dim / 2 columns (gpt-oss: no cat of the frequencies)
  /// DeepSeek first_k_dense_replace: the first `dense_layers` layers run `dense_ops` (a dense MLP) instead of `ops`.
  std::uint64_t dense_layers = 0;
  std::vector<LayerOp> dense_ops{};
  bool rope_complex = false;  ///< RoPE as one complex64 freqs_cis table (DeepSeek-V2) instead of cos and sin
  bool cls_head = false;                 ///< sequence-classification head on the first token, no final norm (BERT, RoBERTa)
};

/// Reads config.json keys for a family's own fields (errors name the key and the file).
class ConfigReader {
 public:
  virtual ~ConfigReader() = default;
  /// A positive integer; `fallback` when absent (InputError when absent and `required`).
  virtual std::uint64_t count(const char* key, bool required, std::uint64_t fallback = 0) const = 0;
  virtual bool flag(const char* key, bool fallback) const = 0;
  /// A non-negative number; `fallback` when absent, 0 when null.
  virtual double number(const char* key, double fallback) const = 0;
  /// Where the config came from, for messages.
  virtual const std::string& origin() const = 0;
  /// The number of entries of a list field (0 when absent or null).
  virtual std::uint64_t list_length(const char* key) const { (void)key; return 0; }
  /// A string field; `fallback` when absent or null (InputError when not a string).
  virtual std::string text(const char* key, const std::string& fallback) const { (void)key; return fallback; }
};

/// A supported family: its HF model_type, how it reads its config, its parameter inventory
/// and its layer.
struct FamilySpec {
  Family family;
  std::string_view model_type;
  /// Fills the family's fields of `m` (KV heads, MLP width, tying, biases, windows, ...) after
  /// the common ones (hidden_size, num_hidden_layers, num_attention_heads, vocab_size, head_dim).
  void (*read)(const ConfigReader& config, ModelConfig& m);
  std::vector<ParamTensor> (*parameters)(const ModelConfig& model);
  LayerSpec (*layer)(const ModelConfig& model);
  /// config.json keys the family's config class spells differently (transformers attribute_map):
  /// {common key, the family's key}, e.g. {"hidden_size", "n_embd"} for GPT-2.
  std::vector<std::pair<std::string_view, std::string_view>> attribute_map = {};
};

const FamilySpec& family_spec(Family family);
/// The family whose model_type is `model_type`, or nullptr.
const FamilySpec* find_family(std::string_view model_type);
/// Every supported family, in Family order.
const std::vector<FamilySpec>& family_specs();

/// Builders the family files share.
namespace build {
/// A Linear's weight (out × in) and, with `bias`, its bias (out), `count` of them.
void linear(std::vector<ParamTensor>& out, const std::string& name, std::uint64_t out_features, std::uint64_t in_features,
            std::uint64_t count, bool bias, BackwardRegion region);
/// A norm's weight (and bias) of `width`, `count` of them.
void norm(std::vector<ParamTensor>& out, const std::string& name, std::uint64_t width, std::uint64_t count, bool bias,
          BackwardRegion region);
/// Llama-style self_attn.{q,k,v}_proj (with `qkv_bias`) and o_proj (with `o_bias`), one per layer.
void attention_projections(std::vector<ParamTensor>& out, const ModelConfig& m, bool qkv_bias, bool o_bias);
/// Llama-style mlp.{gate,up,down}_proj, one per layer.
void gated_mlp(std::vector<ParamTensor>& out, const ModelConfig& m, bool bias);
/// The input embedding table (first in the inventory).
void embedding(std::vector<ParamTensor>& out, const ModelConfig& m, const std::string& name);
/// The final norm and, when untied, lm_head (last in the inventory).
void head(std::vector<ParamTensor>& out, const ModelConfig& m, const std::string& final_norm, bool final_norm_bias,
          const std::string& lm_head);
/// The llama-style fields shared by most families: num_key_value_heads, intermediate_size,
/// tie_word_embeddings (with the family's default).
void read_common(const ConfigReader& config, ModelConfig& m, bool tied_default);
/// MlpOp::act_extra for the model's hidden_act (3 for "gelu_new", the Python tanh GELU).
std::uint64_t act_extra(const ModelConfig& m);
}  // namespace build

}  // namespace vramcalc
