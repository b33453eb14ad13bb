// The layout checks of tensor, context and pipeline parallelism: each degree positive, the
// ranks a multiple of tp·cp·pp, and the pipeline knobs only with a pipeline.
#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/layout_policy.hpp>

namespace vramcalc {
namespace {

void require_degree(std::uint64_t value, const char* id) {
  if (value == 0) throw InputError(id, "0", "must be a positive integer");
}

void validate_pipeline(const ParallelLayout& l) {
  if (l.pp == 1) {
    if (l.microbatches > 0) throw InputError(field::kMicrobatches, std::to_string(l.microbatches), "pipeline micro-batches need pipeline parallelism (pp above 1)");
    if (l.virtual_stages > 1) throw InputError(field::kVirtualStages, std::to_string(l.virtual_stages), "virtual stages need pipeline parallelism (pp above 1)");
    if (l.pp_schedule != PipelineSchedule::kOneFOneB) throw InputError(field::kPpSchedule, to_string(l.pp_schedule), "a pipeline schedule needs pipeline parallelism (pp above 1)");
    return;
  }
  const bool interleaved = l.pp_schedule == PipelineSchedule::kInterleaved;
  if (interleaved && l.virtual_stages < 2) {
    throw InputError(field::kVirtualStages, std::to_string(l.virtual_stages), "the interleaved schedule needs 2 or more virtual stages per rank");
  }
  if (!interleaved && l.virtual_stages > 1) {
    throw InputError(field::kVirtualStages, std::to_string(l.virtual_stages), "virtual stages need the interleaved pipeline schedule");
  }
  // DeepSpeed runtime/pipe/engine.py: "ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism".
  if (l.zero.stage >= 2) throw InputError(field::kZeroStage, std::to_string(l.zero.stage), "ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism (DeepSpeed)");
}

}  // namespace

void validate_model_parallel_layout(const ParallelLayout& l) {
  require_degree(l.tp, field::kTp);
  require_degree(l.cp, field::kCp);
  require_degree(l.pp, field::kPp);
  require_degree(l.virtual_stages, field::kVirtualStages);
  if (l.sp && l.tp == 1) throw InputError(field::kSp, "true", "sequence parallelism splits over the tensor-parallel group: needs tp above 1");
  validate_pipeline(l);
  if (l.megatron != MegatronOptimizer::kNone && l.zero.stage > 0) {
    throw InputError(field::kMegatron, to_string(l.megatron), "Megatron's optimizer and DeepSpeed ZeRO exclude each other: use ZeRO stage 0");
  }
  if (l.gpus % l.model_parallel() != 0) {
    throw InputError(field::kGpus, std::to_string(l.gpus),
                     fmt::format("must be a multiple of tp × cp × pp = {} × {} × {} = {} (total ranks = data-parallel × tp × cp × pp)",
                                 l.tp, l.cp, l.pp, l.model_parallel()));
  }
}

}  // namespace vramcalc
