// Pipeline schedules: their names and the micro-batches each keeps in flight on a stage.
#include <vramcalc/pipeline_schedule.hpp>

#include <algorithm>

#include <vramcalc/error.hpp>

namespace vramcalc {

const char* to_string(PipelineSchedule value) {
  switch (value) {
    case PipelineSchedule::kOneFOneB: return "1f1b";
    case PipelineSchedule::kGpipe: return "gpipe";
    case PipelineSchedule::kInterleaved: return "interleaved";
  }
  return "?";
}

PipelineSchedule parse_pipeline_schedule(const std::string& text) {
  for (PipelineSchedule s : {PipelineSchedule::kOneFOneB, PipelineSchedule::kGpipe, PipelineSchedule::kInterleaved}) {
    if (text == to_string(s)) return s;
  }
  throw InputError(field::kPpSchedule, text, "expected one of 1f1b, gpipe, interleaved");
}

// GPipe (torch ScheduleGPipe) runs every forward before any backward. 1F1B (Megatron
// forward_backward_pipelining_without_interleaving, torch Schedule1F1B) warms up with
// p − r − 1 forwards and runs one more forward before each backward. Interleaved (Megatron
// forward_backward_pipelining_with_interleaving, get_pp_rank_microbatches) warms up with
// (p − r − 1)·2 + (v − 1)·g chunk-forwards, g = microbatch_group_size_per_vp_stage (default p),
// capped at m·v, and runs one more before the first backward.
std::uint64_t inflight_units(PipelineSchedule schedule, std::uint64_t stages, std::uint64_t rank, std::uint64_t microbatches,
                             std::uint64_t chunks) {
  const std::uint64_t total = microbatches * chunks;
  switch (schedule) {
    case PipelineSchedule::kGpipe: return total;
    case PipelineSchedule::kOneFOneB: return std::min(microbatches, stages - rank);
    case PipelineSchedule::kInterleaved: return std::min(total, (chunks - 1) * stages + 2 * (stages - 1 - rank) + 1);
  }
  return total;
}

// Megatron forward_backward_pipelining_with_interleaving: forward k is chunk (k / g) mod v of a
// micro-batch group, backwards run the chunks in reverse, so on the last rank (warm-up (v − 1)·p)
// backward k is the last chunk's micro-batch that forward warm-up + k just ran.
std::uint64_t head_inflight_units(PipelineSchedule schedule, std::uint64_t stages, std::uint64_t microbatches,
                                  std::uint64_t chunks) {
  const std::uint64_t all = inflight_units(schedule, stages, stages - 1, microbatches, chunks);
  switch (schedule) {
    case PipelineSchedule::kGpipe: return microbatches;
    case PipelineSchedule::kOneFOneB: return all;
    case PipelineSchedule::kInterleaved: return all - (chunks - 1) * std::min(microbatches, stages);
  }
  return all;
}

}  // namespace vramcalc
