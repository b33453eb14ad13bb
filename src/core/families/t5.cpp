// T5, mT5 and UMT5 encoder-decoders with their language-model head (transformers
// models/t5/modeling_t5.py T5ForConditionalGeneration, models/mt5/modeling_mt5.py
// MT5ForConditionalGeneration, models/umt5/modeling_umt5.py UMT5ForConditionalGeneration).
// One `shared` embedding (V × d_model) feeds both stacks (encoder.embed_tokens and
// decoder.embed_tokens are tied to it: _tied_weights_keys). Each stack (T5Stack) is a list of
// T5Blocks and a final T5LayerNorm (weight only: no bias, no mean). An encoder block is
// layer.0 T5LayerSelfAttention (layer_norm, q, k, v, o without biases; inner dim
// num_heads · d_kv, independent of d_model) and layer.1 T5LayerFF (layer_norm, DenseReluDense:
// wi, wo for feed_forward_proj "relu"; wi_0, wi_1, wo for "gated-<act>"). A decoder block adds
// layer.1 T5LayerCrossAttention (layer_norm, EncDecAttention q, k, v, o) before the FF, now
// layer.2. The relative position bias (nn.Embedding(relative_attention_num_buckets, num_heads))
// sits in block 0's self-attention of each stack only (T5Stack: has_relative_attention_bias =
// (i == 0)); UMT5 gives every self-attention its own (UMT5LayerSelfAttention
// has_relative_attention_bias=True). lm_head (d_model → V, no bias) is its own matrix when the
// checkpoint's config says tie_word_embeddings false (t5 v1.1, flan-t5, mT5); tied, the decoder
// output is scaled by d_model^-0.5 before it (scale_decoder_outputs).
// Tying: transformers 5.x T5Config.__post_init__ forces tie_word_embeddings = True and ties
// lm_head to `shared` for every config (the untied checkpoints' lm_head is then not a parameter
// of its own); transformers 4.x and the published parameter counts keep it untied.
// vramcalc follows the checkpoint's config (tools/measure/FINDINGS.md §34).
#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

// T5Config.__post_init__: feed_forward_proj "gated-<act>" or "<act>"; "gated-gelu" runs
// gelu_new ("for backwards compatibility").
void read_feed_forward(const ConfigReader& c, ModelConfig& m, const std::string& fallback) {
  const std::string proj = c.text("feed_forward_proj", fallback);
  const bool gated = proj.starts_with("gated-");
  const std::string act = gated ? proj.substr(6) : proj;
  if (act.empty() || act.find('-') != std::string::npos) {
    throw InputError(config_field("feed_forward_proj"), proj,
                     fmt::format("expected '<act>' or 'gated-<act>' (T5Config.validate_architecture) in {}", c.origin()));
  }
  m.gated_mlp = gated;
  m.hidden_act = proj == "gated-gelu" ? "gelu_new" : act;
}

void read(const ConfigReader& c, ModelConfig& m, const std::string& ff_default, bool every_layer_bias) {
  if (c.flag("is_decoder", false) || !c.flag("is_encoder_decoder", true)) {
    throw InputError(config_field("is_encoder_decoder"), "false",
                     "T5 as a decoder only or an encoder only (T5EncoderModel) is not modelled; the encoder-decoder is");
  }
  m.num_kv_heads = m.num_heads;
  m.intermediate_size = c.count("d_ff", true);
  m.num_decoder_layers = c.count("num_decoder_layers", false, m.num_layers);  // T5Config: default = symmetry
  m.relative_attention_num_buckets = c.count("relative_attention_num_buckets", false, 32);
  m.relative_bias_every_layer = every_layer_bias;
  m.tie_word_embeddings = c.flag("tie_word_embeddings", true);
  read_feed_forward(c, m, ff_default);
  m.dropout_rate = c.number("dropout_rate", 0.1);  // T5Config / MT5Config / UMT5Config default 0.1
  if (!(m.dropout_rate < 1.0)) {
    throw InputError(config_field("dropout_rate"), fmt::format("{}", m.dropout_rate), fmt::format("must be a probability in [0, 1) in {}", c.origin()));
  }
  m.loss_in_logits_dtype = true;  // T5ForConditionalGeneration: CrossEntropyLoss()(lm_logits.view(-1, V), labels.view(-1))
}

void t5_read(const ConfigReader& c, ModelConfig& m) { read(c, m, "relu", false); }      // T5Config defaults
void mt5_read(const ConfigReader& c, ModelConfig& m) { read(c, m, "gated-gelu", false); }  // MT5Config defaults
void umt5_read(const ConfigReader& c, ModelConfig& m) { read(c, m, "gated-gelu", true); }  // UMT5Config defaults

// One attention (SelfAttention or EncDecAttention) of every block of a stack: q, k, v
// (inner × d_model) and o (d_model × inner), no biases.
void attention(std::vector<ParamTensor>& t, const ModelConfig& m, const std::string& name, std::uint64_t blocks) {
  const std::uint64_t d = m.hidden_size;
  build::linear(t, name + ".q", m.q_dim(), d, blocks, false, kInput);
  build::linear(t, name + ".k", m.q_dim(), d, blocks, false, kInput);
  build::linear(t, name + ".v", m.q_dim(), d, blocks, false, kInput);
  build::linear(t, name + ".o", d, m.q_dim(), blocks, false, kAfterAttention);
}

// The relative position bias of a stack's self-attention: block 0 only (T5, mT5), every block (UMT5).
void relative_bias(std::vector<ParamTensor>& t, const ModelConfig& m, const std::string& stack, std::uint64_t blocks) {
  const bool every = m.relative_bias_every_layer;
  t.push_back({stack + (every ? ".block.*" : ".block.0") + ".layer.0.SelfAttention.relative_attention_bias.weight",
               m.relative_attention_num_buckets, m.num_heads, every ? blocks : 1, false, false, ParamScope::kLayer, true, kInput});
}

// T5LayerFF: layer_norm and DenseReluDense (wi, wo or wi_0, wi_1, wo), at layer index `ff`.
void feed_forward(std::vector<ParamTensor>& t, const ModelConfig& m, const std::string& block, std::uint64_t blocks) {
  const std::uint64_t d = m.hidden_size;
  build::norm(t, block + ".layer_norm", d, blocks, false, kAfterAttention);
  if (m.gated_mlp) {
    build::linear(t, block + ".DenseReluDense.wi_0", m.intermediate_size, d, blocks, false, kAfterAttention);
    build::linear(t, block + ".DenseReluDense.wi_1", m.intermediate_size, d, blocks, false, kAfterAttention);
  } else {
    build::linear(t, block + ".DenseReluDense.wi", m.intermediate_size, d, blocks, false, kAfterAttention);
  }
  build::linear(t, block + ".DenseReluDense.wo", d, m.intermediate_size, blocks, false, kOutput);
}

// A stack (T5Stack): its blocks and final_layer_norm; the decoder's blocks add cross-attention.
void stack(std::vector<ParamTensor>& t, const ModelConfig& m, const std::string& name, std::uint64_t blocks, bool decoder) {
  const std::string b = name + ".block.*.layer.";
  build::norm(t, b + "0.layer_norm", m.hidden_size, blocks, false, kInput);
  attention(t, m, b + "0.SelfAttention", blocks);
  relative_bias(t, m, name, blocks);
  if (decoder) {
    build::norm(t, b + "1.layer_norm", m.hidden_size, blocks, false, kAfterAttention);
    attention(t, m, b + "1.EncDecAttention", blocks);
  }
  feed_forward(t, m, b + (decoder ? "2" : "1"), blocks);
  t.push_back({name + ".final_layer_norm.weight", m.hidden_size, 1, 1, false, false, ParamScope::kFinalNorm, true, kNone});
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  std::vector<ParamTensor> t;
  build::embedding(t, m, "shared.weight");
  stack(t, m, "encoder", m.num_layers, false);
  stack(t, m, "decoder", m.num_decoder_layers, true);
  if (!m.tie_word_embeddings) {
    t.push_back({"lm_head.weight", m.vocab_size, m.hidden_size, 1, true, false, ParamScope::kLmHead, true, kNone});
  }
  return t;
}

// The block as ops (T5LayerNorm: fp32 variance, no mean, no bias; eager attention with the
// position bias added to the scores; the FF). t5_activations.cpp runs them per stack at its own
// length, with T5's own saved-tensor rules, and inserts the decoder's cross-attention.
LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t d = m.hidden_size;
  AttentionOp attention_op{false, false};
  attention_op.rope = false;
  attention_op.bidirectional = true;
  attention_op.softmax_in_input_dtype = true;  // eager_attention_forward: softmax(attn_weights, dim=-1)
  LayerSpec spec{{NormOp{"layer.0.layer_norm", NormKind::kRms, d, 1, 3, false, false, kInput}, attention_op,
                  NormOp{"layer.1.layer_norm", NormKind::kRms, d, 1, m.gated_mlp ? 2U : 1U, false, false, kAfterAttention},
                  MlpOp{.kind = m.gated_mlp ? MlpKind::kGated : MlpKind::kPlain, .act_extra = build::act_extra(m)}},
                 NormKind::kRms, false};
  spec.rope_tables = 0;
  return spec;
}

}  // namespace

FamilySpec t5_family(Family family) {
  // T5Config / MT5Config / UMT5Config attribute_map, plus d_ff as the MLP width.
  std::vector<std::pair<std::string_view, std::string_view>> names = {
      {"hidden_size", "d_model"}, {"num_attention_heads", "num_heads"}, {"num_hidden_layers", "num_layers"}, {"head_dim", "d_kv"}};
  if (family == Family::kMt5) return {family, "mt5", mt5_read, parameters, layer, names};
  if (family == Family::kUmt5) return {family, "umt5", umt5_read, parameters, layer, names};
  return {Family::kT5, "t5", t5_read, parameters, layer, names};
}

}  // namespace vramcalc
