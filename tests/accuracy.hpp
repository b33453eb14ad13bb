#pragma once
// Predicted vs measured: runs the estimator on every record in tests/data/measured/*.json
// and compares like with like (allocated with allocated, saved bytes with saved bytes).
// Shared by the accuracy test (tolerances) and tools/accuracy_report (docs/accuracy.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vramcalc::accuracy {

struct Row {
  std::string file;        // data file name
  std::string id;
  std::string metric;      // allocated, reserved, nvidia-smi, allocated_difference, saved_per_layer, saved_head
  std::string setup;       // one-line description of the inputs
  std::optional<double> predicted;  // bytes
  double measured = 0;              // bytes
  std::optional<double> error_pct;  // (predicted - measured) / measured × 100
  std::optional<double> tolerance_pct;
  bool predicted_ok = false;        // within tolerance
  std::string why_not;              // set when the record is not predicted
  std::string source;
  std::string notes;
  std::string kind = "step";        // record kind: step (default), lora, compile, fsdp2
  std::string phase;                // load, forward, backward, optimizer_step, peak, layer, head
  std::string split;                // calibration or validation, by split_of(id)
  bool split_mismatch = false;      // the record declares a "split" that the rule does not give
  bool out_of_sample = false;       // the file was measured after the split rule was fixed (doc "split_rule")
  std::optional<double> known_gap_pct;  // a documented miss: reported, not failed (tools/measure/FINDINGS.md)
  std::string known_gap_finding;
};

/// The calibration/validation split, fixed before any record was used to tune the estimator:
/// a record is "validation" when the first byte of sha256(id) is below 0x4D (77 of 256 ≈ 30%),
/// else "calibration". tools/measure/hf_measure.py writes the same value into each record's
/// "split" field; evaluate() checks that it matches.
std::string split_of(const std::string& id);

/// Every record of every *.json file in `dir`, in file then record order.
std::vector<Row> evaluate_directory(const std::string& dir);
/// The markdown report (docs/accuracy.md) of `rows` read from `dir`, with a summary and the
/// file's "about" text per data file.
std::string markdown_report(const std::vector<Row>& rows, const std::string& dir);
/// A plain table for the test log.
std::string text_table(const std::vector<Row>& rows);

}  // namespace vramcalc::accuracy
