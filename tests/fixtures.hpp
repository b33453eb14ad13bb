// Inputs and lookups several test files share: the harness's tiny Llama, a bf16 setup, and the
// moment of a step at one instant.
#pragma once

#include <cstdint>

#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

namespace vramcalc::fixtures {

/// The harness's Llama h128 (tools/measure/hf_measure.py): 4 heads of 32, 2 KV heads, I = 320,
/// V = 4096, 2 layers, untied.
inline ModelConfig llama_h128() {
  return parse_model_config(
      R"({"model_type":"llama","hidden_size":128,"num_attention_heads":4,"num_hidden_layers":2,"vocab_size":4096,)"
      R"("max_position_embeddings":16384,"num_key_value_heads":2,"intermediate_size":320,"head_dim":32,"tie_word_embeddings":false})",
      "test");
}

/// Pure bf16 at sequence length `seq`, batch 1, every other field at its default.
inline TrainingSetup bf16_setup(std::uint64_t seq) {
  TrainingSetup s;
  s.seq_len = seq;
  s.precision = Precision::kBf16;
  return s;
}

/// The moment of `est`'s step at instant `i` (a test failure when the step has none).
inline const Moment& moment_at(const Estimate& est, Instant i) {
  for (const auto& m : est.timeline) {
    if (m.instant == i) return m;
  }
  FAIL("no moment");
  return est.timeline.front();
}

}  // namespace vramcalc::fixtures
