#include <catch2/catch.hpp>

#include "cli/app.hpp"
#include <vramcalc/error.hpp>
#include <vramcalc/units.hpp>

using namespace vramcalc;

TEST_CASE("sizes are labelled in binary or decimal units", "[units]") {
  CHECK(format_size(16'060'522'496, SizeUnits::kDecimal) == "16.06 GB");
  CHECK(format_size(16'060'522'496, SizeUnits::kBinary) == "14.96 GiB");
  CHECK(format_size(kGiB, SizeUnits::kBinary) == "1.00 GiB");
  CHECK(group_digits(8'030'261'248) == "8,030,261,248");
  CHECK(group_digits(999) == "999");
  CHECK(group_digits(1000) == "1,000");
}

TEST_CASE("byte arithmetic refuses to overflow 64 bits", "[units]") {
  CHECK(checked_mul(1ULL << 32, 1ULL << 31) == (1ULL << 63));
  CHECK_THROWS_AS(checked_mul(1ULL << 32, 1ULL << 32), InputError);
  CHECK_THROWS_AS(checked_add(~0ULL, 1), InputError);
  CHECK_THROWS_WITH(checked_product({1ULL << 40, 1ULL << 40}), Catch::Contains("overflow 64 bits"));
}

TEST_CASE("sizes given to --gpu-mem need an explicit unit", "[units][cli]") {
  using vramcalc::cli::parse_size;
  CHECK(parse_size("40GiB", "--gpu-mem") == 40 * kGiB);
  CHECK(parse_size("80GB", "--gpu-mem") == 80 * kGB);
  CHECK(parse_size("39.5 GiB", "--gpu-mem") == 42'412'802'048);
  CHECK(parse_size("512MiB", "--gpu-mem") == 512 * kMiB);
  CHECK_THROWS_WITH(parse_size("40", "--gpu-mem"), Catch::Contains("give a unit"));
  CHECK_THROWS_WITH(parse_size("-1GiB", "--gpu-mem"), Catch::StartsWith("--gpu-mem: '-1GiB'"));
  CHECK_THROWS_AS(parse_size("forty", "--gpu-mem"), InputError);
}

TEST_CASE("counts are positive integers", "[units][cli]") {
  using vramcalc::cli::parse_count;
  CHECK(parse_count("8192", "--seq") == 8192);
  CHECK_THROWS_WITH(parse_count("0", "--seq"), "--seq: '0': must be a positive integer");
  CHECK_THROWS_WITH(parse_count("-5", "--seq"), "--seq: '-5': expected a positive integer");
  CHECK_THROWS_WITH(parse_count("2.5", "--batch"), "--batch: '2.5': expected a positive integer");
  CHECK_THROWS_AS(parse_count("99999999999999999999", "--seq"), InputError);
}
