// Every measured record stays within its stated tolerance, except records with a documented known gap
// (reported, not failed); every record's declared split follows the rule; the table is printed for the log.
#include <catch2/catch.hpp>

#include <iostream>

#include "accuracy.hpp"
#include "sha256.hpp"

namespace {

std::string hex(const std::array<std::uint8_t, 32>& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : d) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[accuracy]") {
  using vramcalc::accuracy::sha256;
  CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(sha256(std::string(1000, 'a'))) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST_CASE("the calibration/validation split follows the fixed rule", "[accuracy]") {
  using vramcalc::accuracy::split_of;
  // sha256("a")[0] = 0xca, sha256("b")[0] = 0x3e
  CHECK(split_of("a") == "calibration");
  CHECK(split_of("b") == "validation");
}

TEST_CASE("predictions stay within each measured record's tolerance", "[accuracy]") {
  const auto rows = vramcalc::accuracy::evaluate_directory(std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/measured");
  REQUIRE_FALSE(rows.empty());
  std::cout << vramcalc::accuracy::text_table(rows);
  std::size_t predicted = 0;
  std::size_t gaps = 0;
  for (const auto& r : rows) {
    INFO(r.id << " " << r.setup);
    CHECK_FALSE(r.split_mismatch);
    if (!r.predicted) continue;
    ++predicted;
    CHECK(r.tolerance_pct.has_value());
    if (r.known_gap_pct) {
      // A documented miss (tools/measure/FINDINGS.md): reported, not failed.
      ++gaps;
      if (r.predicted_ok) WARN(r.id << ": known gap closed, remove its known_gap entry");
      continue;
    }
    CHECK(r.predicted_ok);
  }
  std::cout << predicted << " records predicted, " << gaps << " with a known gap\n";
  CHECK(predicted >= 2);
}
