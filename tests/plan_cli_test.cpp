// End to end: `vramcalc fit` and `vramcalc sweep` against individual estimates of the same
// binary, their JSON, CSV and SVG, exit codes and errors.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

using vramcalc_test::run_vramcalc;
using nlohmann::json;

namespace {

// The exit status of a plain estimate: 0 fits, 1 does not.
int estimate_exit(const std::string& args) { return run_vramcalc(args).code; }

}  // namespace

TEST_CASE("fit: the largest batch and sequence are exact boundaries of the estimate", "[cli][plan]") {
  const std::string base = "--model llama-3.2-1b --gpu l4 --precision bf16 --grad-ckpt full";
  const auto r = run_vramcalc("fit " + base + " --seq 4096 --format json");
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  const json j = json::parse(r.out);
  const auto batch = j["max_batch"]["value"].get<std::uint64_t>();
  const auto seq = j["max_seq"]["value"].get<std::uint64_t>();
  CHECK_FALSE(j["max_batch"]["capped"].get<bool>());
  CHECK(estimate_exit(base + " --seq 4096 --batch " + std::to_string(batch)) == 0);
  CHECK(estimate_exit(base + " --seq 4096 --batch " + std::to_string(batch + 1)) == 1);
  CHECK(estimate_exit(base + " --seq " + std::to_string(seq)) == 0);
  CHECK(estimate_exit(base + " --seq " + std::to_string(seq + 1)) == 1);
  CHECK(j["min_gpus"].size() == 10);
  CHECK(j["min_gpus"][0]["layout"] == "zero0");
  CHECK(j["changes"].is_array());
}

TEST_CASE("fit: changes are flags that make the run fit", "[cli][plan]") {
  const std::string setup = "--model llama-3-8b --gpu h100-80gb --seq 8192 --gpus-per-node 8";
  const std::string base = setup + " --gpus 8";
  const auto r = run_vramcalc("fit " + base + " --format json");
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  CHECK_FALSE(j["fits"].get<bool>());
  REQUIRE_FALSE(j["changes"].empty());
  for (const auto& c : j["changes"]) {
    INFO(c["flags"]);
    const auto e = run_vramcalc(base + " " + c["flags"].get<std::string>() + " --format json");
    CHECK(e.code == 0);
    CHECK(json::parse(e.out)["peak"]["device_bytes"] == c["device_bytes"]);
  }
  for (const auto& l : j["min_gpus"]) {
    if (l["gpus"].is_null()) continue;
    INFO(l["layout"]);
    const auto e = run_vramcalc(setup + " " + l["flags"].get<std::string>() + " --gpus " + std::to_string(l["gpus"].get<int>()));
    CHECK(e.code == 0);
  }
  const auto table = run_vramcalc("fit " + base);
  CHECK(table.code == 0);
  CHECK_THAT(table.out, Catch::Contains("changes that make it fit"));
}

TEST_CASE("fit: exit 1 when nothing fits, 2 without a GPU", "[cli][plan]") {
  const auto r = run_vramcalc("fit --model llama-3-8b --gpu-mem 512MiB --format json");
  CHECK(r.code == 1);
  const json j = json::parse(r.out);
  CHECK(j["max_batch"]["value"].is_null());
  CHECK(j["changes"].empty());
  CHECK_FALSE(j["anything_fits"].get<bool>());
  const auto none = run_vramcalc("fit --model llama-3-8b");
  CHECK(none.code == 2);
  CHECK(none.out.empty());
  CHECK_THAT(none.err, Catch::StartsWith("vramcalc: error: --gpu"));
}

TEST_CASE("sweep rows equal individual estimates", "[cli][sweep]") {
  const std::string base = "--model qwen2.5-0.5b --gpu l4";
  const auto r = run_vramcalc("sweep " + base + " --seq 1024..4096 --batch 1,3 --format json");
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  CHECK(j["axes"] == json::array({"seq", "batch"}));
  REQUIRE(j["rows"].size() == 6);
  for (const auto& row : j["rows"]) {
    const std::string args = base + " --seq " + std::to_string(row["seq"].get<int>()) + " --batch " + std::to_string(row["batch"].get<int>());
    INFO(args);
    const auto e = run_vramcalc(args + " --format json");
    const json est = json::parse(e.out);
    CHECK(row["peak_allocated_bytes"] == est["peak"]["allocated_bytes"]);
    CHECK(row["device_bytes"] == est["peak"]["device_bytes"]);
    CHECK(row["fits"] == est["gpu"]["fits"]);
    CHECK(row["capacity_bytes"] == est["gpu"]["capacity_bytes"]);
  }
  const auto csv = run_vramcalc("sweep " + base + " --seq 1024,2048 --format csv");
  CHECK(csv.out.rfind("seq,peak_allocated_bytes,device_bytes,capacity_bytes,fits\n1024,", 0) == 0);
  CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 3);
}

TEST_CASE("sweep: a bad list item is a one-line error naming its flag", "[cli][sweep][errors]") {
  for (const char* args : {"--seq 1024,,2048", "--seq 4096..1024", "--gpu-mem 40GiB..80GiB", "--batch 1,x"}) {
    INFO(args);
    const auto r = run_vramcalc(std::string("sweep --model llama-3.2-1b ") + args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_THAT(r.err, Catch::StartsWith("vramcalc: error: --"));
  }
  CHECK(run_vramcalc("--model llama-3.2-1b --format svg").code == 2);
}

TEST_CASE("sweep SVG is well-formed XML with one series per component", "[cli][sweep][svg]") {
  const std::string base = "sweep --model llama-3.2-1b --gpu a100-40gb --seq 1024..8192 --batch 1,2";
  const auto svg = run_vramcalc(base + " --format svg");
  REQUIRE(svg.code == 0);
  const auto path = vramcalc_test::scratch("plan") / ("chart_" + std::to_string(getpid()) + ".svg");
  std::ofstream(path) << svg.out;
  // Components with bytes in some row, from the JSON of the same sweep.
  const json j = json::parse(run_vramcalc(base + " --format json").out);
  std::set<std::string> components;
  for (const auto& row : j["rows"]) {
    for (const auto& [name, bytes] : row["components"].items()) {
      if (bytes.get<std::uint64_t>() > 0) components.insert(name);
    }
  }
  std::string expected;
  for (const auto& c : components) expected += (expected.empty() ? "" : ",") + c;
  const std::string check =
      "python3 -c \"import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); "
      "g = [e.getAttribute('data-component') for e in d.getElementsByTagName('g') if e.getAttribute('class') == 'series']; "
      "assert len(g) == len(set(g)), g; assert ','.join(sorted(g)) == sys.argv[2], (g, sys.argv[2]); "
      "assert all(len(e.getElementsByTagName('rect')) == 8 for e in d.getElementsByTagName('g') if e.getAttribute('class') == 'series'); "
      "assert len([p for p in d.getElementsByTagName('polyline') if p.getAttribute('class') == 'capacity']) == 1\" " +
      path.string() + " " + expected;
  CHECK(std::system(check.c_str()) == 0);
  std::filesystem::remove(path);
}

TEST_CASE("bars are plain ASCII when not a terminal", "[cli][table]") {
  for (const char* env : {"NO_COLOR=", "NO_COLOR=1"}) {
    const auto r = run_vramcalc("--model llama-3.2-1b", env);
    CHECK(r.out.find("█") == std::string::npos);
    CHECK_THAT(r.out, Catch::Contains("%  #"));
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      const auto at = line.find("%  ");
      if (at != std::string::npos) CHECK(line.substr(at + 3).find_first_not_of("#.") == std::string::npos);
    }
    const auto s = run_vramcalc("sweep --model llama-3.2-1b --seq 1024,2048", env);
    CHECK(s.out.find("█") == std::string::npos);
  }
}
