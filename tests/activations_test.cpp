// Activation bytes against hand derivations (modeling.md §4.3) and their properties.
#include <catch2/catch.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_io.hpp>

using namespace vramcalc;

namespace {

TrainingSetup setup_for(std::uint64_t seq, std::uint64_t batch, Precision p, Attention a,
                        GradCkpt c = GradCkpt::kNone) {
  TrainingSetup s;
  s.seq_len = seq;
  s.micro_batch = batch;
  s.precision = p;
  s.attention = a;
  s.grad_ckpt = c;
  return s;
}

const ModelConfig& llama8b() {
  static const ModelConfig m = resolve_model("llama-3-8b");
  return m;
}

}  // namespace

TEST_CASE("Llama-3-8B layer, bf16, SDPA: T·(20h + 4·kvd + 8I + 8) + 4·a·s·b", "[activations]") {
  // 20·4096 + 4·1024 + 8·14336 + 8 = 200,712 B/token, + 4·32 = 128 B/token of logsumexp.
  const Activations a = activations(llama8b(), setup_for(8192, 1, Precision::kBf16, Attention::kSdpa));
  CHECK(a.per_layer == 200'840ULL * 8192);  // 1.53 GiB
  CHECK(a.s2_per_layer == 0);
  // DeepSpeed's bf16 engine keeps the same activations as pure bf16.
  CHECK(activations(llama8b(), setup_for(8192, 1, Precision::kMixed, Attention::kSdpa)).per_layer == a.per_layer);
}

TEST_CASE("Llama-3-8B layer under autocast: fp32 residual stream, per-Linear casts", "[activations]") {
  // T·(30h + 4·kvd + 8I + 8) + 4·a·s·b = 241,800 B/token (modeling.md §4.3 B).
  const Activations a = activations(llama8b(), setup_for(8192, 1, Precision::kAmp, Attention::kSdpa));
  CHECK(a.per_layer == 241'800ULL * 8192);
}

TEST_CASE("eager attention adds 6·a·s²·b and keeps repeated k and v", "[activations]") {
  // 16h + 8 (norms) + 8·qd (q, repeated k and v, contiguous out) + 8I per token, + 6·a·s²·b.
  const std::uint64_t T = 8192;
  const Activations a = activations(llama8b(), setup_for(T, 1, Precision::kBf16, Attention::kEager));
  CHECK(a.per_layer == (16 * 4096 + 8 + 8 * 4096 + 8 * 14336) * T + 6ULL * 32 * T * T);
  CHECK(a.s2_per_layer == 6ULL * 32 * T * T);
  // fp32: the softmax output is already fp32, no low-precision copy: 4·a·s²·b.
  const Activations f = activations(llama8b(), setup_for(1024, 1, Precision::kFp32, Attention::kEager));
  CHECK(f.s2_per_layer == 4ULL * 32 * 1024 * 1024);
}

TEST_CASE("activations are linear in batch", "[activations][property]") {
  for (auto p : {Precision::kFp32, Precision::kAmp, Precision::kMixed, Precision::kBf16}) {
    for (auto att : {Attention::kEager, Attention::kSdpa}) {
      for (auto ck : {GradCkpt::kNone, GradCkpt::kFull, GradCkpt::kSelective}) {
        const auto one = activations(llama8b(), setup_for(2048, 1, p, att, ck));
        const auto four = activations(llama8b(), setup_for(2048, 4, p, att, ck));
        CHECK(four.per_layer == 4 * one.per_layer);
        CHECK(four.stack.bytes == 4 * one.stack.bytes);
      }
    }
  }
}

TEST_CASE("an s² term appears only with eager attention", "[activations][property]") {
  for (auto p : {Precision::kFp32, Precision::kAmp, Precision::kBf16}) {
    const auto sdpa1 = activations(llama8b(), setup_for(1024, 1, p, Attention::kSdpa));
    const auto sdpa2 = activations(llama8b(), setup_for(2048, 1, p, Attention::kSdpa));
    const auto sdpa4 = activations(llama8b(), setup_for(4096, 1, p, Attention::kSdpa));
    // Linear: equal increments when s doubles from 1k to 2k and from 2k to 3k... use second difference.
    CHECK(sdpa4.per_layer - sdpa2.per_layer == 2 * (sdpa2.per_layer - sdpa1.per_layer));
    const auto e1 = activations(llama8b(), setup_for(1024, 1, p, Attention::kEager));
    const auto e2 = activations(llama8b(), setup_for(2048, 1, p, Attention::kEager));
    const auto e4 = activations(llama8b(), setup_for(4096, 1, p, Attention::kEager));
    CHECK(e4.per_layer - e2.per_layer > 2 * (e2.per_layer - e1.per_layer));
  }
}

TEST_CASE("full checkpointing keeps only each layer's input", "[activations][property]") {
  for (auto p : {Precision::kFp32, Precision::kAmp, Precision::kMixed, Precision::kBf16}) {
    const auto none = activations(llama8b(), setup_for(4096, 2, p, Attention::kSdpa));
    const auto full = activations(llama8b(), setup_for(4096, 2, p, Attention::kSdpa, GradCkpt::kFull));
    CHECK(full.stack.bytes < none.stack.bytes);
    const std::uint64_t residual = (p == Precision::kFp32 || p == Precision::kAmp) ? 4 : 2;
    CHECK(full.kept_per_layer == residual * 4096 * 2 * 4096);
    CHECK(full.recompute == none.per_layer);
  }
}

TEST_CASE("selective checkpointing drops exactly the s² part", "[activations][property]") {
  const auto none = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kEager));
  const auto sel = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kEager, GradCkpt::kSelective));
  CHECK(sel.kept_per_layer == none.per_layer - none.s2_per_layer);
  const auto sdpa = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kSdpa));
  const auto sdpa_sel = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kSdpa, GradCkpt::kSelective));
  CHECK(sdpa_sel.stack.bytes == sdpa.stack.bytes);  // nothing quadratic to drop (Megatron-LM#1225)
}

TEST_CASE("HF loss keeps 12·T·V at the start of backward", "[activations][loss]") {
  TrainingSetup s = setup_for(8192, 1, Precision::kBf16, Attention::kSdpa);
  const std::uint64_t N = 8192ULL * 128256;
  LogitsLoss full = logits_loss(llama8b(), s);
  CHECK(full.forward.bytes == 10 * N);
  CHECK(full.backward.bytes == 12 * N);  // 11.7 GiB
  s.precision = Precision::kFp32;
  CHECK(logits_loss(llama8b(), s).forward.bytes == 8 * N);  // logits already fp32: no upcast copy
  s.precision = Precision::kBf16;
  s.loss = LossImpl::kChunked;
  CHECK(logits_loss(llama8b(), s).backward.bytes == 4 * N + N);  // 4·N + 8·N/8
  s.loss = LossImpl::kFused;
  const LogitsLoss fused = logits_loss(llama8b(), s);
  CHECK(fused.backward.bytes == 2ULL * 8192 * 4096 + 2ULL * 128256 * 4096);
  CHECK(fused.forward.bytes < full.forward.bytes / 8);
}

TEST_CASE("op-level selective checkpointing keeps every other matmul output and attention's", "[activations]") {
  // torchtitan's policy: block input 2h, q 2·qd, v 2·kvd, gate 2I, down 2h (mm 1, 3, 5, 7 of
  // q, k, v, o, gate, up, down), SDPA output 2·qd and its fp32 logsumexp 4·a per token.
  const Activations a = activations(llama8b(), setup_for(8192, 2, Precision::kBf16, Attention::kSdpa, GradCkpt::kOpSac));
  const std::uint64_t T = 8192 * 2;
  CHECK(a.kept_per_layer == (2 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 14336 + 2 * 4096 + 2 * 4096 + 4 * 32) * T);
  const Activations none = activations(llama8b(), setup_for(8192, 2, Precision::kBf16, Attention::kSdpa));
  const Activations full = activations(llama8b(), setup_for(8192, 2, Precision::kBf16, Attention::kSdpa, GradCkpt::kFull));
  CHECK(a.kept_per_layer < none.per_layer);
  CHECK(a.kept_per_layer > full.kept_per_layer);
}
