// Every measured record stays within its stated tolerance; the table is printed for the log.
#include <catch2/catch.hpp>

#include <iostream>

#include "accuracy.hpp"

TEST_CASE("predictions stay within each measured record's tolerance", "[accuracy]") {
  const auto rows = vramcalc::accuracy::evaluate_directory(std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/measured");
  REQUIRE_FALSE(rows.empty());
  std::cout << vramcalc::accuracy::text_table(rows);
  std::size_t predicted = 0;
  for (const auto& r : rows) {
    INFO(r.id << " " << r.setup);
    if (!r.predicted) continue;
    ++predicted;
    CHECK(r.tolerance_pct.has_value());
    CHECK(r.predicted_ok);
  }
  CHECK(predicted >= 2);
}
