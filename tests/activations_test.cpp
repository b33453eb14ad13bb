// Activation bytes against hand derivations (per op, src/core/ops.cpp) and their properties.
#include <catch2/catch.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_io.hpp>
#include <vramcalc/error.hpp>

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
  // T·(30h + 4·kvd + 8I + 8) + 4·a·s·b = 241,800 B/token (derived op by op).
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

TEST_CASE("selective checkpointing drops the s² part and keeps q, k, v before repeat_kv", "[activations][property]") {
  const auto none = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kEager));
  const auto sel = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kEager, GradCkpt::kSelective));
  // Eager saves q, k and v at a·d = 4096 wide (repeat_kv); the checkpoint keeps q (4096), k and
  // v (k·d = 1024 each), bf16, T = 4096.
  constexpr std::uint64_t T = 4096;
  CHECK(sel.kept_per_layer == none.per_layer - none.s2_per_layer - 3 * 2 * T * 4096 + 2 * T * (4096 + 1024 + 1024));
  const auto sdpa = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kSdpa));
  const auto sdpa_sel = activations(llama8b(), setup_for(4096, 1, Precision::kBf16, Attention::kSdpa, GradCkpt::kSelective));
  CHECK(sdpa_sel.stack.bytes == sdpa.stack.bytes);  // nothing quadratic to drop (Megatron-LM#1225)
}

TEST_CASE("HF loss keeps 12·T·V at the start of backward", "[activations][loss]") {
  TrainingSetup s = setup_for(8192, 1, Precision::kBf16, Attention::kSdpa);
  const std::uint64_t N = 8192ULL * 128256;
  LogitsLoss full = logits_loss(llama8b(), s);
  // + 4 B: nll_loss's fp32 total_weight, saved for its backward (one per cross_entropy call);
  // + 8·(s+1): ForCausalLMLoss's padded int64 labels (b = 1), alive in the loss forward
  CHECK(full.forward.bytes == 10 * N + 4 + 8 * 8193);
  CHECK(full.backward.bytes == 12 * N + 4);  // 11.7 GiB
  s.precision = Precision::kFp32;
  CHECK(logits_loss(llama8b(), s).forward.bytes == 8 * N + 4 + 8 * 8193);  // logits already fp32: no upcast copy
  s.precision = Precision::kBf16;
  s.loss = LossImpl::kChunked;
  CHECK(logits_loss(llama8b(), s).backward.bytes == 4 * N + N + 8 * 4);  // 4·N + 8·N/8 + 8 chunks' total_weight
  s.loss = LossImpl::kFused;
  const LogitsLoss fused = logits_loss(llama8b(), s);
  CHECK(fused.backward.bytes == 2ULL * 8192 * 4096 + 2ULL * 128256 * 4096);
  // Liger chunk: inc = ceil(128256/4096) = 32, chunk = next_pow2(8192/32) = 256 tokens; the chunk's
  // weight-grad product mm (2·V·h) and its .float() (4·V·h) live together (Liger >= 0.6.2).
  CHECK(fused.forward.bytes == 2ULL * 8192 * 4096 + 2ULL * 128256 * 4096 + 2ULL * 256 * 128256 + 6ULL * 128256 * 4096);
  s.precision = Precision::kAmp;  // fp32 grad_weight, bf16 logits: addmm(out_dtype=fp32) in place
  CHECK(logits_loss(llama8b(), s).forward.bytes == 2ULL * 8192 * 4096 + 4ULL * 128256 * 4096 + 2ULL * 256 * 128256);
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

// Saved bytes per token of one decoder layer of the newer families (bf16, batch 2, seq 8),
// against what autograd saved in the real transformers 5.24 / 5.25 classes on CPU (one-layer
// models walked with saved-tensor hooks, storages counted once): Qwen3 SDPA 4016 and eager
// 4448, OLMo2 3872 / 4048 (shared cos/sin tables excluded, they are outside the layer). GPT-NeoX
// measured 2320 + LayerNorm statistics, which are bf16 on CPU (2·4 B) and fp32 on CUDA
// (2·8 B, the estimator's target): 2336 SDPA, 14H+4I+6·a·s+16 = 2128 eager. Falcon-7B's masked
// SDPA: 10H+6d+4F+4a+2s + 8 = 1800 measured on CPU, + the mem-efficient kernel's logsumexp
// padded to 32 rows (4·a·24/8 = 48 per token) on CUDA.
TEST_CASE("newer families save what transformers 5.x saves per layer", "[activations][families]") {
  struct Case {
    const char* config;
    Attention attention;
    double bytes_per_token;
  };
  const std::string q3 = R"({"model_type":"qwen3","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,
    "num_key_value_heads":2,"head_dim":32,"intermediate_size":128,"vocab_size":256})";
  const std::string o2 = R"({"model_type":"olmo2","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,
    "num_key_value_heads":4,"intermediate_size":128,"vocab_size":256})";
  const std::string nx = R"({"model_type":"gpt_neox","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,
    "intermediate_size":256,"vocab_size":256,"rotary_pct":0.25})";
  const std::string f7 = R"({"model_type":"falcon","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,
    "vocab_size":256,"multi_query":true,"parallel_attn":true})";
  const Case cases[] = {{q3.c_str(), Attention::kSdpa, 4016}, {q3.c_str(), Attention::kEager, 4448},
                        {o2.c_str(), Attention::kSdpa, 3872}, {o2.c_str(), Attention::kEager, 4048},
                        {nx.c_str(), Attention::kSdpa, 2208}, {nx.c_str(), Attention::kEager, 2128}};
  for (const auto& c : cases) {
    TrainingSetup setup;
    setup.seq_len = 8;
    setup.micro_batch = 2;
    setup.precision = Precision::kBf16;
    setup.attention = c.attention;
    const Activations a = activations(parse_model_config(c.config, "test"), setup);
    INFO(c.config << " " << to_string(c.attention));
    CHECK(static_cast<double>(a.per_layer) / 16.0 == c.bytes_per_token);
  }
  TrainingSetup setup;
  setup.seq_len = 8;
  setup.micro_batch = 2;
  setup.precision = Precision::kBf16;
  const Activations falcon = activations(parse_model_config(f7, "test"), setup);
  const Bytes per_token = falcon.stack.bytes - falcon.outside;  // one layer, its mask copy included
  CHECK(per_token == (1800 + 48) * 16);
}

// GPT-2, Phi, StarCoder2 and Gemma 3 (issue 14): one layer of the harness's tiny configs (hidden
// 128, 4 heads, intermediate 320, seq 256, batch 1, fp32), as measured with the real transformers
// 5.24 classes on CPU (tests/data/measured/hf_cpu.json, hf-step-<family>-h128-L3-v4k-fp32-*-layer).
// GPT-2 eager, by hand: ln_1 and ln_2 inputs and outputs 4·4·T·h, c_attn output 4·T·3h (q, k, v are
// views), fp32 softmax 4·a·s², c_proj's contiguous input 4·T·h, gelu_new 5·4·T·I, LayerNorm stats
// 2·8·T.
TEST_CASE("GPT-2, Phi, StarCoder2 and Gemma 3 layers save what transformers 5.24 saves", "[activations][families]") {
  const std::string gpt2 = R"({"model_type":"gpt2","n_embd":128,"n_head":4,"n_layer":3,"n_inner":320,
    "n_positions":16384,"vocab_size":4096,"activation_function":"gelu_new"})";
  const std::string phi = R"({"model_type":"phi","hidden_size":128,"num_attention_heads":4,"num_hidden_layers":3,
    "num_key_value_heads":4,"intermediate_size":320,"vocab_size":4096,"partial_rotary_factor":0.5,"hidden_act":"gelu_new"})";
  const std::string sc2 = R"({"model_type":"starcoder2","hidden_size":128,"num_attention_heads":4,"num_hidden_layers":3,
    "num_key_value_heads":2,"intermediate_size":320,"vocab_size":4096,"use_bias":true,"sliding_window":null})";
  const std::string g3 = R"({"model_type":"gemma3_text","hidden_size":128,"num_attention_heads":4,"num_hidden_layers":3,
    "num_key_value_heads":2,"head_dim":32,"intermediate_size":320,"vocab_size":4096,"sliding_window":128})";
  constexpr Bytes T = 256, h = 128, I = 320, a = 4;
  CHECK(4 * 5 * T * h + 4 * 3 * T * h + 4 * a * T * T + 5 * 4 * T * I + 16 * T == 3'739'648);
  struct Case {
    const std::string* config;
    Attention attention;
    Bytes measured;
  };
  const Case cases[] = {{&gpt2, Attention::kEager, 3'739'648}, {&gpt2, Attention::kSdpa, 2'695'168},
                        {&phi, Attention::kEager, 3'475'456},  {&sc2, Attention::kEager, 2'756'608},
                        {&g3, Attention::kEager, 4'597'760}};
  for (const auto& c : cases) {
    TrainingSetup setup;
    setup.seq_len = 256;
    setup.micro_batch = 1;
    setup.precision = Precision::kFp32;
    setup.attention = c.attention;
    INFO(*c.config << " " << to_string(c.attention));
    CHECK(activations(parse_model_config(*c.config, "test"), setup).per_layer == c.measured);
  }
}

// BLOOM (ALiBi): fused query_key_value whose q, k, v views baddbmm and bmm save, the fp32 softmax,
// the dense input copy, two LayerNorms and a 4h MLP whose custom GELU saves only its input:
// measured 3,149,824 B (hf-step-bloom-h128-L3-v4k-fp32-eager-...-layer). transformers has no SDPA
// path for BLOOM: it runs eager attention, whatever is asked.
TEST_CASE("BLOOM saves what transformers 5.24 saves and runs eager attention", "[activations][families]") {
  const std::string bloom = R"({"model_type":"bloom","hidden_size":128,"n_head":4,"n_layer":3,"vocab_size":4096})";
  const ModelConfig m = parse_model_config(bloom, "test");
  constexpr Bytes T = 256, h = 128, a = 4;
  TrainingSetup setup;
  setup.seq_len = 256;
  setup.micro_batch = 1;
  setup.precision = Precision::kFp32;
  setup.attention = Attention::kEager;
  CHECK(activations(m, setup).per_layer == 4 * 5 * T * h + 4 * 3 * T * h + 4 * a * T * T + 2 * 4 * T * 4 * h + 16 * T);
  CHECK(activations(m, setup).per_layer == 3'149'824);
  setup.attention = Attention::kSdpa;
  CHECK(activations(m, setup).per_layer == 3'149'824);
}

// BERT / RoBERTa with the MLM head (h 64, L 2, a 4, I 256, V 1000, s 32, b 2, fp32, dropout 0),
// measured with saved_tensors_hooks on transformers 5.24 BertForMaskedLM / RobertaForMaskedLM
// (storages counted once, parameters and the position_ids buffer excluded): per layer SDPA
// 264,192 B, eager 295,936 B; outside the layers (ids, embedding LayerNorm, MLM transform and
// its LayerNorm, decoder input) BERT 83,712 B, RoBERTa 84,480 B; log_softmax 4·T·V + 4 B.
TEST_CASE("BERT and RoBERTa MLM save what transformers 5.24 saves", "[activations][families]") {
  const std::string bert =
      R"({"model_type":"bert","vocab_size":1000,"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":256})";
  const std::string roberta =
      R"({"model_type":"roberta","vocab_size":1000,"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":256,"max_position_embeddings":514,"type_vocab_size":1,"pad_token_id":1})";
  constexpr Bytes T = 64, h = 64, I = 256, s = 32, b = 2, a = 4;
  TrainingSetup setup = setup_for(s, b, Precision::kFp32, Attention::kSdpa);
  const ModelConfig mb = parse_model_config(bert, "test");
  // q/k/v input, q, k, v, out, LN1 input and output, LN2 input; fc1 output, fc2 input; lse; stats.
  CHECK(activations(mb, setup).per_layer == 4 * 8 * T * h + 4 * 2 * T * I + 4 * b * a * s + 2 * 8 * T);
  CHECK(activations(mb, setup).per_layer == 264'192);
  CHECK(activations(mb, setup).outside == 83'712);
  CHECK(logits_loss(mb, setup).saved.bytes == 4 * T * 1000 + 4);
  CHECK(activations(parse_model_config(roberta, "test"), setup).outside == 84'480);
  CHECK(activations(parse_model_config(roberta, "test"), setup).per_layer == 264'192);
  setup.attention = Attention::kEager;
  CHECK(activations(mb, setup).per_layer == 295'936);
  // bf16 weights, no autocast: CrossEntropyLoss on bf16 logits saves a bf16 log_softmax and a 2 B
  // total_weight (measured outside total 174,850 B = 128,002 loss + the rest as in fp32 at 2 B).
  setup.precision = Precision::kBf16;
  CHECK(logits_loss(mb, setup).saved.bytes == 2 * T * 1000 + 2);
  setup.precision = Precision::kAmp;
  CHECK(logits_loss(mb, setup).saved.bytes == 4 * T * 1000 + 4);
}

TEST_CASE("op-level SAC: a biased Linear is aten.addmm, neither saved nor counted by the mm rule", "[activations][op-sac]") {
  // Qwen2.5-7B: q/k/v have biases (addmm, PREFER_RECOMPUTE, not counted), o_proj is mm #1 (kept),
  // gate #2 (recomputed), up #3 (kept), down #4 (recomputed); + the block input 2h and SDPA's
  // output 2·qd and fp32 logsumexp 4·a per token. Policy decisions probed on a tiny Qwen2
  // (tools/measure/op_sac_addmm_probe.py, FINDINGS §41).
  const ModelConfig q = resolve_model("qwen2.5-7b");
  const std::uint64_t T = 4096 * 1, h = 3584, I = 18944, a = 28;
  const Activations act = activations(q, setup_for(4096, 1, Precision::kBf16, Attention::kSdpa, GradCkpt::kOpSac));
  CHECK(act.kept_per_layer == (2 * h + 2 * h + 2 * I + 2 * h + 4 * a) * T);
}
