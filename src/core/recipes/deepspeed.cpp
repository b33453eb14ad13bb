// DeepSpeed (deepspeedai/DeepSpeed v0.19.6-dev @edaa7221) run as `deepspeed.initialize(model, config)` with
// "bf16": {"enabled": true} and "optimizer": {"type": "AdamW"}, every zero_optimization key at DeepSpeed's own
// default (not HF Trainer's "auto"). The ZeRO stage stays the user's (--zero, --deepspeed; DeepSpeed's default 0).
// What each stage then runs (runtime/engine.py _do_optimizer_sanity_check, get_data_types: with no
// data_types.grad_accum_dtype the accumulation dtype is the model dtype):
//   stage 0 → DDP_BFLOAT16 = FP16_Optimizer over bf16 (fp16/fused_optimizer.py): bf16 flat params, full fp32
//             master clone, fp32 flat gradients built at the step (2 + 2 + 4 + 8 + 4 = 20 B/param at the step);
//   stage 1-2 → DeepSpeedZeroOptimizer (zero/stage_1_and_2.py); stage 3 → DeepSpeedZeroOptimizer_Stage3.
// BF16_Optimizer (runtime/bf16_optimizer.py) runs only for stage 1 with data_types.grad_accum_dtype "fp32"
// and no offload, which is not a default. allgather_bucket_size allocates nothing on torch ≥ 1.13: the step's
// all_gather_dp_groups gathers into the flat bf16 buffer in place (runtime/utils.py all_gather_into_tensor_dp_groups).
#include <vramcalc/error.hpp>

#include "core/recipes/recipes.hpp"

namespace vramcalc::recipes {

namespace {
constexpr const char* kZeroConfig = "deepspeedai/DeepSpeed deepspeed/runtime/zero/config.py DeepSpeedZeroConfig";
}  // namespace

Recipe deepspeed() {
  return {"deepspeed",
          "DeepSpeed v0.19.6-dev (deepspeedai/DeepSpeed @edaa7221)",
          "bf16 module with the fp32 master in DeepSpeed's optimizer wrapper, FusedAdam, zero_optimization buckets at "
          "DeepSpeed's defaults (not HF's \"auto\"); the ZeRO stage is left to you (DeepSpeed's default: 0)",
          {{field::kPrecision, "mixed",
            "bf16.enabled: the module's parameters are cast to bf16; the optimizer wrapper (FP16_Optimizer at stage 0, "
            "the ZeRO optimizer at 1-3) keeps the fp32 master and fp32 Adam states",
            "deepspeedai/DeepSpeed deepspeed/runtime/engine.py _configure_distributed_model (_cast_module_mixed_precision), "
            "_do_optimizer_sanity_check"},
           {field::kOptimizer, "adamw-fused",
            "\"optimizer\": {\"type\": \"AdamW\"} builds deepspeed.ops.adam.FusedAdam: multi_tensor_applier updates "
            "in place, no foreach temporaries",
            "deepspeedai/DeepSpeed deepspeed/runtime/engine.py _configure_basic_optimizer; deepspeed/ops/adam/fused_adam.py"},
           {field::kReduceBucketSize, "500000000",
            "reduce_bucket_size default 5e8 elements: ZeRO-1/2 allocate torch.empty(reduce_bucket_size) in the bf16 "
            "dtype per bucket (two with overlap_comm), ZeRO-3 its __ipg_bucket_flat_buffer",
            std::string(kZeroConfig) + ".reduce_bucket_size; deepspeed/runtime/zero/stage_1_and_2.py setup_buckets"},
           {field::kContiguousGradients, "true", "contiguous_gradients default True: gradients are copied into the bucket buffer",
            std::string(kZeroConfig) + ".contiguous_gradients"},
           {field::kPrefetchBucketSize, "50000000", "stage3_prefetch_bucket_size default 5e7 elements prefetched ahead of the module",
            std::string(kZeroConfig) + ".prefetch_bucket_size; deepspeed/runtime/zero/partitioned_param_coordinator.py"},
           {field::kParamPersistenceThreshold, "100000",
            "stage3_param_persistence_threshold default 1e5: parameters this small stay gathered on every rank",
            std::string(kZeroConfig) + ".param_persistence_threshold; deepspeed/runtime/zero/parameter_offload.py "
            "mark_persistent_parameters"},
           {field::kMaxLiveParameters, "1000000000", "stage3_max_live_parameters default 1e9: caps the gathered parameters",
            std::string(kZeroConfig) + ".max_live_parameters"}}};
}

}  // namespace vramcalc::recipes
