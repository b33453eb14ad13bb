// ForCausalLMLoss's padded / shifted int64 labels (src/core/loss_labels.cpp), against bytes
// derived by hand and the fw.loss "const" column of tests/data/measured/hf_cpu.json.
#include <catch2/catch.hpp>

#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_io.hpp>

using namespace vramcalc;

namespace {

TrainingSetup setup_for(std::uint64_t seq, std::uint64_t batch, Precision p) {
  TrainingSetup s;
  s.seq_len = seq;
  s.micro_batch = batch;
  s.precision = p;
  return s;
}

}  // namespace

TEST_CASE("ForCausalLMLoss: b = 1 keeps the padded labels, b > 1 a shifted copy", "[loss][labels]") {
  const ModelConfig m = resolve_model("llama-3-8b");
  const std::uint64_t V = 128256;
  // b = 1, s = 256: pad → 8·257 = 2,056 B (measured fw.loss const 2,056 in every b = 1, s = 256
  // record); labels[..., 1:] of a 1 × 257 tensor is contiguous, so no copy.
  LogitsLoss l = logits_loss(m, setup_for(256, 1, Precision::kBf16));
  const std::uint64_t N1 = 256 * V;
  CHECK(l.labels_saved == 2'056);
  CHECK(l.saved.bytes == 4 * N1 + 4 + 2'056);
  CHECK(l.forward.bytes == 10 * N1 + 4 + 2'056);
  CHECK(l.backward.bytes == 12 * N1 + 4);  // NllLossBackward0 has freed its target
  // b = 2, s = 128: pad 8·2·129 = 2,064 + .contiguous() copy 8·2·128 = 2,048 in the forward;
  // the copy is nll_loss's saved target (measured fw.loss const 2,048).
  l = logits_loss(m, setup_for(128, 2, Precision::kFp32));
  const std::uint64_t N2 = 256 * V;
  CHECK(l.labels_saved == 2'048);
  CHECK(l.forward.bytes == 8 * N2 + 4 + 2'064 + 2'048);
  CHECK(l.saved.bytes == 4 * N2 + 4 + 2'048);
  CHECK(l.forward.formula.find("8·b·(s+1) padded") != std::string::npos);
  CHECK(l.forward.source.find("ForCausalLMLoss") != std::string::npos);
}

TEST_CASE("losses that take the caller's labels as a view make no labels", "[loss][labels]") {
  ModelConfig m = resolve_model("llama-3-8b");
  m.loss_in_logits_dtype = true;  // BertForMaskedLM: CrossEntropyLoss(scores.view(-1, V), labels.view(-1))
  CHECK(logits_loss(m, setup_for(128, 2, Precision::kFp32)).labels_saved == 0);
  CHECK(logits_loss(m, setup_for(128, 2, Precision::kFp32)).forward.bytes == 8ULL * 256 * 128256 + 4);
  m.head = ModelHead::kSeqCls;  // CrossEntropyLoss(logits.view(-1, n), labels.view(-1))
  m.num_labels = 3;
  CHECK(logits_loss(m, setup_for(128, 2, Precision::kFp32)).labels_saved == 0);
}
