#pragma once
/// Pipeline-parallel schedules and how many micro-batches each keeps in flight on a stage
/// (research modeling-parallel.md §5.2; Megatron core/pipeline_parallel/schedules.py,
/// torch/distributed/pipelining/schedules.py).

#include <cstdint>
#include <string>

namespace vramcalc {

enum class PipelineSchedule {
  kOneFOneB,     ///< 1F1B: a warm-up of p − r − 1 forwards, then one forward before each backward
  kGpipe,        ///< every forward, then every backward
  kInterleaved,  ///< interleaved 1F1B over virtual stages (model chunks per rank)
};
const char* to_string(PipelineSchedule value);
PipelineSchedule parse_pipeline_schedule(const std::string& text);

/// Chunk-forwards whose saved activations are alive at once on pipeline rank `rank` (0 =
/// first) of `stages`, with `microbatches` per step and `chunks` model chunks per rank. One
/// unit is one micro-batch through one chunk (L / (p·v) layers).
/// GPipe: m·v. 1F1B: min(m, p − r). Interleaved: min(m·v, (v − 1)·p + 2·(p − 1 − r) + 1).
std::uint64_t inflight_units(PipelineSchedule schedule, std::uint64_t stages, std::uint64_t rank,
                             std::uint64_t microbatches, std::uint64_t chunks);

/// Forwards through the last model chunk (the one with the final norm, lm_head and loss) whose
/// saved tensors are alive at once on the last pipeline rank. GPipe: m. 1F1B: min(m, 1) = 1.
/// Interleaved: the last rank's warm-up runs chunks 0..v−2 only and then alternates one forward
/// with one backward of the same last-chunk micro-batch: 1 (m when m < p and every forward runs first).
std::uint64_t head_inflight_units(PipelineSchedule schedule, std::uint64_t stages, std::uint64_t microbatches,
                                  std::uint64_t chunks);

}  // namespace vramcalc
