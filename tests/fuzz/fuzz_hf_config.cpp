// libFuzzer: HF config.json text → parse_model_config → estimate. Crashes, sanitizer reports,
// exceptions other than InputError, multi-line errors and broken invariants all abort.
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "invariants.hpp"
#include <vramcalc/vramcalc.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  vramcalc::EstimateInputs in;
  try {
    in.model = vramcalc::parse_model_config(text, "fuzz.json");
  } catch (const vramcalc::InputError& e) {
    if (const auto p = vramcalc::testing::one_line_problem(e.what()); !p.empty()) {
      std::fprintf(stderr, "%s\n", p.c_str());
      std::abort();
    }
    return 0;
  }
  in.setup.seq_len = 1 + (size % 4096);
  in.with_advice = false;
  try {
    const vramcalc::Estimate est = vramcalc::estimate(in);
    if (const auto p = vramcalc::testing::estimate_problem(est); !p.empty()) {
      std::fprintf(stderr, "%s\n", p.c_str());
      std::abort();
    }
  } catch (const vramcalc::InputError& e) {
    if (const auto p = vramcalc::testing::one_line_problem(e.what()); !p.empty()) std::abort();
  }
  return 0;
}
