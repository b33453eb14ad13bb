// BERT and RoBERTa encoders with their masked-LM head (transformers models/bert/modeling_bert.py
// BertForMaskedLM, models/roberta/modeling_roberta.py RobertaForMaskedLM): word + learned absolute
// position + token-type embeddings summed and LayerNorm'd; post-LN blocks (attention, add,
// LayerNorm; GELU MLP, add, LayerNorm) with separate query/key/value Linears, biases everywhere,
// bidirectional attention (no causal mask); no final norm. MLM head: transform Linear h→h, GELU,
// LayerNorm, then the decoder tied to the word embeddings plus its own bias of V. The loss
// (ForMaskedLMLoss) takes log_softmax over every position's logits; the labels of unmasked
// positions are -100, which changes no tensor size. BertModel's pooler is not built
// (add_pooling_layer=False under the MLM head).
// With ModelConfig::head = kSeqCls (model_head.hpp) the models are BertForSequenceClassification
// (pooler dense + tanh on the first token, dropout, classifier h → num_labels) and
// RobertaForSequenceClassification (RobertaModel without pooler; RobertaClassificationHead dense,
// tanh, out_proj h → num_labels): no MLM head, no lm_head, nothing tied to the embeddings.
#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  if (c.flag("is_decoder", false) || c.flag("add_cross_attention", false)) {
    throw InputError(config_field("is_decoder"), "true", "BERT/RoBERTa as a decoder (causal or cross-attention) is not modelled");
  }
  m.num_kv_heads = m.num_heads;
  m.intermediate_size = c.count("intermediate_size", true);
  m.tie_word_embeddings = c.flag("tie_word_embeddings", true);
  m.max_position_embeddings = c.count("max_position_embeddings", false, 512);
  m.type_vocab_size = c.count("type_vocab_size", false, 2);
  m.attention_bias = true;
  m.linear_bias = true;
  m.lm_head_bias = true;
  m.loss_in_logits_dtype = true;  // BertForMaskedLM / RobertaForMaskedLM: CrossEntropyLoss()(scores.view(-1, V), labels)
  m.hidden_act = "gelu";  // BertConfig default (the config's value overrides)
}

// The encoder (BertModel / RobertaModel without the pooler): embeddings and layers.
std::vector<ParamTensor> encoder(const ModelConfig& m, const std::string& base) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const std::string e = base + ".embeddings.";
  const std::string l = base + ".encoder.layer.*.";
  std::vector<ParamTensor> t;
  build::embedding(t, m, e + "word_embeddings.weight");
  t.push_back({e + "position_embeddings.weight", m.max_position_embeddings, h, 1, false, false, ParamScope::kEmbedding, true, kNone});
  t.push_back({e + "token_type_embeddings.weight", m.type_vocab_size, h, 1, false, false, ParamScope::kEmbedding, true, kNone});
  t.push_back({e + "LayerNorm.weight", h, 1, 1, false, false, ParamScope::kEmbedding, true, kNone});
  t.push_back({e + "LayerNorm.bias", h, 1, 1, false, false, ParamScope::kEmbedding, true, kNone});
  build::linear(t, l + "attention.self.query", h, h, L, true, kInput);
  build::linear(t, l + "attention.self.key", h, h, L, true, kInput);
  build::linear(t, l + "attention.self.value", h, h, L, true, kInput);
  build::linear(t, l + "attention.output.dense", h, h, L, true, kAfterAttention);
  build::norm(t, l + "attention.output.LayerNorm", h, L, true, kAfterAttention);
  build::linear(t, l + "intermediate.dense", m.intermediate_size, h, L, true, kAfterAttention);
  build::linear(t, l + "output.dense", h, m.intermediate_size, L, true, kOutput);
  build::norm(t, l + "output.LayerNorm", h, L, true, kOutput);
  return t;
}

// A Linear of the head (its gradient is made in the head's backward, before the layers').
void head_linear(std::vector<ParamTensor>& t, const std::string& name, std::uint64_t out, std::uint64_t in) {
  t.push_back({name + ".weight", out, in, 1, true, false, ParamScope::kLmHead, true, kNone});
  t.push_back({name + ".bias", out, 1, 1, true, false, ParamScope::kLmHead, true, kNone});
}

// Sequence classification. BertForSequenceClassification: BertPooler (dense h→h, tanh on the
// first token), dropout, classifier h→num_labels. RobertaForSequenceClassification (RobertaModel
// with add_pooling_layer=False): RobertaClassificationHead dense h→h, tanh, out_proj h→num_labels.
std::vector<ParamTensor> classifier(const ModelConfig& m, const std::string& base, bool roberta) {
  std::vector<ParamTensor> t = encoder(m, base);
  const std::uint64_t h = m.hidden_size;
  head_linear(t, roberta ? "classifier.dense" : base + ".pooler.dense", h, h);
  head_linear(t, roberta ? "classifier.out_proj" : "classifier", m.num_labels, h);
  return t;
}

std::vector<ParamTensor> parameters(const ModelConfig& m, const std::string& base, const std::string& head,
                                    const std::string& head_norm) {
  const std::uint64_t h = m.hidden_size;
  std::vector<ParamTensor> t = encoder(m, base);
  // The MLM head's transform sits where a decoder's final norm does (between the stack and the logits).
  t.push_back({head + ".dense.weight", h, h, 1, true, false, ParamScope::kFinalNorm, true, kNone});
  t.push_back({head + ".dense.bias", h, 1, 1, true, false, ParamScope::kFinalNorm, true, kNone});
  t.push_back({head_norm + ".weight", h, 1, 1, false, false, ParamScope::kFinalNorm, true, kNone});
  t.push_back({head_norm + ".bias", h, 1, 1, false, false, ParamScope::kFinalNorm, true, kNone});
  if (!m.tie_word_embeddings) t.push_back({head + ".decoder.weight", m.vocab_size, h, 1, true, false, ParamScope::kLmHead, true, kNone});
  t.push_back({head + ".bias", m.vocab_size, 1, 1, true, false, ParamScope::kLmHead, true, kNone});
  return t;
}

std::vector<ParamTensor> bert_parameters(const ModelConfig& m) {
  if (m.head == ModelHead::kSeqCls) return classifier(m, "bert", false);
  return parameters(m, "bert", "cls.predictions", "cls.predictions.transform.LayerNorm");
}

std::vector<ParamTensor> roberta_parameters(const ModelConfig& m) {
  if (m.head == ModelHead::kSeqCls) return classifier(m, "roberta", true);
  return parameters(m, "roberta", "lm_head", "lm_head.layer_norm");
}

// Post-LN: the block's input (the previous LayerNorm's output, or the embedding LayerNorm's) is
// saved once by query/key/value; each LayerNorm saves its input (the residual sum) and its
// output is read by the next Linears (intermediate.dense; the next layer's q/k/v).
LayerSpec layer(const ModelConfig& m, bool roberta) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kLn = NormKind::kLayerNorm;
  AttentionOp attention{false, false};
  attention.rope = false;
  attention.bidirectional = true;
  attention.softmax_in_input_dtype = true;  // eager softmax(scores, dim=-1) without dtype=float32
  LayerSpec spec{{LinearInputOp{"attention.self.input", 3, kInput}, attention,
                  NormOp{"attention.output.LayerNorm", kLn, h, 1, 1, false, false, kAfterAttention},
                  MlpOp{.kind = MlpKind::kPlain, .act_extra = build::act_extra(m)}, NormOp{"output.LayerNorm", kLn, h, 1, 0, false, false, kOutput}},
                 kLn, false};
  spec.rope_tables = 0;
  spec.embedding_layernorm = true;
  spec.mlm_head = m.head == ModelHead::kLm;
  spec.cls_head = m.head == ModelHead::kSeqCls;
  spec.encoder_ids = roberta ? EncoderIds::kRoberta : EncoderIds::kBert;
  return spec;
}

LayerSpec bert_layer(const ModelConfig& m) { return layer(m, false); }
LayerSpec roberta_layer(const ModelConfig& m) { return layer(m, true); }

}  // namespace

FamilySpec bert_family() { return {Family::kBert, "bert", read, bert_parameters, bert_layer}; }

FamilySpec roberta_family() { return {Family::kRoberta, "roberta", read, roberta_parameters, roberta_layer}; }

}  // namespace vramcalc
