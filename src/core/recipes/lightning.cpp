// Lightning 2.6 (Lightning-AI/pytorch-lightning 2.6.5, read at master @7f0c3436): `Trainer(strategy="fsdp",
// precision="bf16-mixed")` with every FSDPStrategy argument left alone. The strategy wraps the LightningModule
// in torch's FullyShardedDataParallel (FSDP1) with use_orig_params=True; FSDPPrecision("bf16-mixed") leaves the
// module fp32 (convert_module only for *-true), gives MixedPrecision(param_dtype=bf16, reduce_dtype=bf16,
// buffer_dtype=bf16) and runs the forward under torch.autocast("cuda", bf16). Before 2.6.0 (#21361) bf16-mixed
// used param_dtype=fp32 (add --param-dtype fp32 for those releases). The optimizer is the LightningModule's own
// (configure_optimizers), so the recipe leaves it alone; ModelParallelStrategy (FSDP2) needs the user's
// configure_model and is not a default.
#include <vramcalc/error.hpp>

#include "core/recipes/recipes.hpp"

namespace vramcalc::recipes {

namespace {
constexpr const char* kStrategy = "Lightning-AI/pytorch-lightning src/lightning/pytorch/strategies/fsdp.py FSDPStrategy";
constexpr const char* kPrecisionPlugin = "Lightning-AI/pytorch-lightning src/lightning/pytorch/plugins/precision/fsdp.py FSDPPrecision";
}  // namespace

Recipe lightning() {
  return {"lightning",
          "Lightning 2.6 (Lightning-AI/pytorch-lightning 2.6.5)",
          "Trainer(strategy=\"fsdp\", precision=\"bf16-mixed\"): FSDP1 with no auto-wrap (the whole model one FlatParameter), fp32 "
          "storage, bf16 compute and reduce; with auto_wrap_policy={Block} set its auto-wrap knob to blocks",
          {{field::kFsdp, "1", "FSDPStrategy._setup_model wraps the model in torch's FullyShardedDataParallel (use_orig_params=True)",
            std::string(kStrategy) + "._setup_model, __init__ (kwargs.setdefault(\"use_orig_params\", True))"},
           {field::kFsdpWrap, "none",
            "auto_wrap_policy defaults to None: only the root is wrapped, so the whole model is one FlatParameter gathered for "
            "forward and backward",
            std::string(kStrategy) + ".__init__ (auto_wrap_policy=None); src/lightning/fabric/strategies/fsdp.py _auto_wrap_policy_kwargs"},
           {field::kReshardAfterForward, "true", "sharding_strategy defaults to \"FULL_SHARD\"",
            std::string(kStrategy) + ".__init__; src/lightning/fabric/strategies/fsdp.py _init_sharding_strategy"},
           {field::kPrecision, "mixed",
            "bf16-mixed: convert_module leaves the parameters fp32 (only 16-true / bf16-true convert), so the flat shards, gradients "
            "and optimizer states are fp32",
            std::string(kPrecisionPlugin) + ".convert_module, module_init_context (#21586)"},
           {field::kParamDtype, "bf16", "mixed_precision_config: bf16-mixed → MixedPrecision(param_dtype=bf16) since 2.6.0 (#21361)",
            std::string(kPrecisionPlugin) + ".mixed_precision_config"},
           {field::kReduceDtype, "bf16", "mixed_precision_config: reduce_dtype = buffer_dtype = bf16",
            std::string(kPrecisionPlugin) + ".mixed_precision_config"},
           {field::kGradCkpt, "none", "activation_checkpointing_policy defaults to None: no checkpoint wrappers",
            std::string(kStrategy) + ".__init__; src/lightning/fabric/strategies/fsdp.py _setup_activation_checkpointing"}}};
}

}  // namespace vramcalc::recipes
