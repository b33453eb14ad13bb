// libFuzzer: ds_config.json text → parse_deepspeed_config → estimate with its layout.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "invariants.hpp"
#include <vramcalc/deepspeed.hpp>
#include <vramcalc/vramcalc.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const vramcalc::ModelConfig model = vramcalc::resolve_model("llama-3.2-1b");
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto check_error = [](const vramcalc::InputError& e) {
    if (const auto p = vramcalc::testing::one_line_problem(e.what()); !p.empty()) {
      std::fprintf(stderr, "%s\n", p.c_str());
      std::abort();
    }
  };
  vramcalc::DeepSpeedConfig ds;
  try {
    ds = vramcalc::parse_deepspeed_config(text, "ds.json", model.hidden_size);
  } catch (const vramcalc::InputError& e) {
    check_error(e);
    return 0;
  }
  for (const auto& w : ds.warnings) {
    if (w.find('\n') != std::string::npos && w.size() > 100000) std::abort();
  }
  vramcalc::EstimateInputs in;
  in.model = model;
  in.layout.zero = ds.zero;
  in.layout.gpus = 8;
  in.layout.gpus_per_node = 8;
  in.setup.micro_batch = ds.micro_batch.value_or(1);
  in.setup.grad_accum = ds.grad_accum.value_or(1);
  in.setup.seq_len = 512;
  in.with_advice = false;
  try {
    const vramcalc::Estimate est = vramcalc::estimate(in);
    if (const auto p = vramcalc::testing::estimate_problem(est); !p.empty()) {
      std::fprintf(stderr, "%s\n", p.c_str());
      std::abort();
    }
  } catch (const vramcalc::InputError& e) {
    check_error(e);
  }
  return 0;
}
