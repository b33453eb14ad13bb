// The encoders' task heads: BertForSequenceClassification / RobertaForSequenceClassification
// (model_head.hpp, families/bert.cpp, activations.cpp describe_classifier, logits_loss.cpp).
#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

ModelConfig with_head(const std::string& name, std::uint64_t labels) {
  EstimateInputs in;
  in.model = resolve_model(name);
  apply_change(in, {field::kHead, "seq-cls"});
  apply_change(in, {field::kNumLabels, std::to_string(labels)});
  return in.model;
}

std::string field_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.field();
  }
  return "";
}

// The tiny BERT of the harness records (tools/measure/hf_measure.py grid block m): h 64, 2 heads,
// 2 layers, I 192, V 1000, every dropout 0.
const char* kTinyBert =
    R"({"model_type":"bert","hidden_size":64,"num_attention_heads":2,"num_hidden_layers":2,"intermediate_size":192,)"
    R"("vocab_size":1000,"max_position_embeddings":1024,"architectures":["BertForSequenceClassification"],)"
    R"("id2label":{"0":"a","1":"b","2":"c"}})";

}  // namespace

// Counts of the real classes, transformers 5.24 on the meta device (tools/measure venv):
// BertForSequenceClassification(BertConfig()) = 109,483,778 with 2 labels, 109,484,547 with 3;
// bert-large 335,143,938; RobertaForSequenceClassification(roberta-base) 124,647,170.
TEST_CASE("sequence-classification heads count what transformers builds", "[families][head]") {
  CHECK(count_parameters(with_head("bert-base-uncased", 2)).total == 109'483'778);
  CHECK(count_parameters(with_head("bert-base-uncased", 3)).total == 109'484'547);
  CHECK(count_parameters(with_head("bert-large-uncased", 2)).total == 335'143'938);
  CHECK(count_parameters(with_head("roberta-base", 2)).total == 124'647'170);
  // BertModel with its pooler (109,482,240, the published BERT-base count) + classifier h·2 + 2.
  CHECK(count_parameters(with_head("bert-base-uncased", 2)).total == 109'482'240 + 768 * 2 + 2);
  const ModelConfig mnli = resolve_model("roberta-large-mnli");
  CHECK(mnli.head == ModelHead::kSeqCls);
  CHECK(mnli.num_labels == 3);
  CHECK(count_parameters(mnli).total == 355'362'819);
  CHECK(count_parameters(mnli).lm_head == 0);
}

// Measured (hf_cpu.json, hf-step-bert-h64-L2-v1000-fp32-eager-...-s128-b2-masknone-seq-cls3-head):
// the pooler's Linear saves the first-token view, which keeps the last hidden state (4·T·h =
// 65,536 B); tanh saves 4·b·h = 512 B; log_softmax 4·b·3 = 24 B and total_weight 4 B: 66,076 B.
TEST_CASE("the classification head saves the last hidden state, tanh and a b x labels loss", "[activations][head]") {
  const ModelConfig m = parse_model_config(kTinyBert, "test");
  REQUIRE(m.head == ModelHead::kSeqCls);
  REQUIRE(m.num_labels == 3);
  TrainingSetup setup;
  setup.seq_len = 128;
  setup.micro_batch = 2;
  setup.precision = Precision::kFp32;
  setup.attention = Attention::kEager;
  const Activations a = activations(m, setup);
  Bytes head = 0;
  for (const auto& t : a.outside_parts) {
    if (t.name.rfind("cls_head.", 0) == 0) head += t.bytes;
    CHECK(t.name.rfind("final_norm", 0) != 0);  // no final norm after the encoder
  }
  CHECK(head == 65'536 + 512);
  CHECK(a.final_norm_saved == head);
  CHECK(logits_loss(m, setup).saved.bytes == 4 * 2 * 3 + 4);
  // Autocast: the dense Linear saves its bf16 copy of the first-token rows (2·b·h), not the whole state.
  setup.precision = Precision::kAmp;
  Bytes amp_head = 0;
  for (const auto& t : activations(m, setup).outside_parts) {
    if (t.name.rfind("cls_head.", 0) == 0) amp_head += t.bytes;
  }
  CHECK(amp_head == 2 * 2 * 64 + 2 * 2 * 64);
}

TEST_CASE("classification heads refuse what is not modelled", "[head][errors]") {
  CHECK(field_of([] { with_head("llama-3-8b", 2); }) == field::kHead);
  CHECK(field_of([] { with_head("bert-base-uncased", 1); }) == field::kNumLabels);
  CHECK(field_of([] {
          EstimateInputs in;
          in.model = resolve_model("bert-base-uncased");
          apply_change(in, {field::kNumLabels, "3"});  // no classification head
        }) == field::kNumLabels);
  CHECK(field_of([] { parse_model_head("token-cls"); }) == field::kHead);
  CHECK(field_of([] {
          parse_model_config(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":2,"num_hidden_layers":2,)"
                             R"("intermediate_size":128,"vocab_size":100,"architectures":["LlamaForSequenceClassification"]})",
                             "test");
        }) == config_field("architectures"));
  EstimateInputs in;
  in.model = with_head("bert-base-uncased", 2);
  in.setup.seq_len = 512;
  in.setup.infer = true;
  CHECK(field_of([&] { (void)estimate(in); }) == field::kHead);
  in.setup.infer = false;
  in.setup.loss = LossImpl::kChunked;
  CHECK(field_of([&] { (void)estimate(in); }) == field::kLoss);
  in.setup.loss = LossImpl::kFull;
  CHECK(estimate(in).peak_allocated > 0);
  // Back to the masked-LM head: the same numbers as the plain config.
  EstimateInputs mlm;
  mlm.model = resolve_model("bert-base-uncased");
  mlm.setup.seq_len = 512;
  EstimateInputs back = in;
  apply_change(back, {field::kHead, "mlm"});
  CHECK(estimate(back).peak_allocated == estimate(mlm).peak_allocated);
}
