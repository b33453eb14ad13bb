// Estimates a built-in model through the installed library and prints the peak in bytes.
#include <iostream>

#include <vramcalc/vramcalc.hpp>

int main() {
  vramcalc::EstimateInputs in;
  in.model = vramcalc::resolve_model("llama-3.2-1b");
  in.setup.seq_len = 2048;
  const vramcalc::Estimate est = vramcalc::estimate(in);
  std::cout << "vramcalc " << vramcalc::version() << " " << in.model.name << " peak_device_bytes "
            << est.device_total << "\n";
  return est.device_total > 0 ? 0 : 1;
}
