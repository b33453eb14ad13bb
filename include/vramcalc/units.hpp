#pragma once
/// Byte counts and unit constants. Every memory quantity in vramcalc is an exact integer
/// number of bytes (std::uint64_t); GiB and GB appear only when a number is rendered.

#include <cstdint>
#include <string>

namespace vramcalc {

using Bytes = std::uint64_t;

inline constexpr Bytes kKiB = 1024;
inline constexpr Bytes kMiB = 1024 * kKiB;
inline constexpr Bytes kGiB = 1024 * kMiB;  ///< 2^30 bytes
inline constexpr Bytes kGB = 1'000'000'000;  ///< 10^9 bytes

/// How sizes are rendered: binary (GiB = 2^30 B) or decimal (GB = 10^9 B).
enum class SizeUnits { kBinary, kDecimal };

/// a * b, or InputError("sizes", ...) when the product does not fit in 64 bits.
Bytes checked_mul(Bytes a, Bytes b);
/// a + b, or InputError("sizes", ...) when the sum does not fit in 64 bits.
Bytes checked_add(Bytes a, Bytes b);
/// Product of all factors, checked for 64-bit overflow.
Bytes checked_product(std::initializer_list<Bytes> factors);
/// ceil(a / b) for b > 0.
constexpr Bytes ceil_div(Bytes a, Bytes b) { return (a + b - 1) / b; }

/// "1.53 GiB" / "1.64 GB": bytes as a labelled size with two decimals.
std::string format_size(Bytes bytes, SizeUnits units);
/// The same value as a plain number in the chosen unit, e.g. 1.53 (GiB) or 1.64 (GB).
double to_unit(Bytes bytes, SizeUnits units);
/// "GiB" or "GB".
const char* unit_label(SizeUnits units);
/// Integer with thousands separators: 8030261248 -> "8,030,261,248".
std::string group_digits(std::uint64_t value);

}  // namespace vramcalc
