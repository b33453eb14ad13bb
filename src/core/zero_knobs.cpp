// DeepSpeed zero_optimization sizes by field id. The values are elements, as DeepSpeedZeroConfig
// takes them (deepspeedai/DeepSpeed deepspeed/runtime/zero/config.py: Field(pp_int(...), ge=0)).
#include "core/zero_knobs.hpp"

#include <cctype>

#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

// An element count ≥ 0 (≥ 1 with `positive`), at most 2^63 − 1 as DeepSpeed's sys.maxsize.
std::uint64_t elements(const std::string& field, const std::string& value, bool positive) {
  const char* expected = positive ? "expected a positive number of elements" : "expected a number of elements (≥ 0)";
  if (value.empty() || value.size() > 19) throw InputError(field, value, expected);
  for (char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) throw InputError(field, value, expected);
  }
  const std::uint64_t n = std::stoull(value);
  if (n > kDeepSpeedMaxsize || (positive && n == 0)) throw InputError(field, value, expected);
  return n;
}

bool flag(const std::string& field, const std::string& value) {
  if (value == "true") return true;
  if (value == "false") return false;
  throw InputError(field, value, "expected true or false");
}

}  // namespace

bool apply_zero_knob(ZeroSettings& z, const std::string& f, const std::string& v) {
  if (f == field::kReduceBucketSize) z.reduce_bucket_size = elements(f, v, true);
  else if (f == field::kPrefetchBucketSize) z.stage3_prefetch_bucket_size = elements(f, v, false);
  else if (f == field::kParamPersistenceThreshold) z.stage3_param_persistence_threshold = elements(f, v, false);
  else if (f == field::kMaxLiveParameters) z.stage3_max_live_parameters = elements(f, v, false);
  else if (f == field::kContiguousGradients) z.contiguous_gradients = flag(f, v);
  else return false;
  return true;
}

}  // namespace vramcalc
