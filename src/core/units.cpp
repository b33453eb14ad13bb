#include <vramcalc/units.hpp>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

namespace vramcalc {

Bytes checked_mul(Bytes a, Bytes b) {
  Bytes out = 0;
  if (__builtin_mul_overflow(a, b, &out)) {
    throw InputError(field::kSizes, fmt::format("{} x {}", a, b),
                     "byte count would overflow 64 bits; check the sizes given");
  }
  return out;
}

Bytes checked_add(Bytes a, Bytes b) {
  Bytes out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    throw InputError(field::kSizes, fmt::format("{} + {}", a, b),
                     "byte count would overflow 64 bits; check the sizes given");
  }
  return out;
}

Bytes checked_product(std::initializer_list<Bytes> factors) {
  Bytes out = 1;
  for (Bytes f : factors) out = checked_mul(out, f);
  return out;
}

double to_unit(Bytes bytes, SizeUnits units) {
  const double unit = units == SizeUnits::kBinary ? static_cast<double>(kGiB) : static_cast<double>(kGB);
  return static_cast<double>(bytes) / unit;
}

const char* unit_label(SizeUnits units) { return units == SizeUnits::kBinary ? "GiB" : "GB"; }

std::string format_size(Bytes bytes, SizeUnits units) {
  return fmt::format("{:.2f} {}", to_unit(bytes, units), unit_label(units));
}

std::string group_digits(std::uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0 && (n - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace vramcalc
