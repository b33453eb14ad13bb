#pragma once
/// The one error type the core library throws: bad input, named by field and value.

#include <stdexcept>
#include <string>
#include <string_view>

namespace vramcalc {

/// Stable identifiers of the inputs the core validates. They name library fields
/// (TrainingSetup, ParallelLayout, ...), never a command-line flag: a front end (the CLI)
/// maps them to its own wording. Keys of a model config.json are "config.<key>" and keys of a
/// ds_config.json "ds_config.<key path>"; their label (field_label) is the key path as written
/// in the file.
namespace field {
inline constexpr const char* kModel = "model";                  ///< model name or config.json path
inline constexpr const char* kDsConfig = "ds_config";           ///< a ds_config.json (file or text)
inline constexpr const char* kSeqLen = "training.seq_len";
inline constexpr const char* kMicroBatch = "training.micro_batch";
inline constexpr const char* kGradAccum = "training.grad_accum";
inline constexpr const char* kPrecision = "training.precision";
inline constexpr const char* kOptimizer = "training.optimizer";
inline constexpr const char* kAttention = "training.attention";
inline constexpr const char* kGradCkpt = "training.grad_ckpt";
inline constexpr const char* kLoss = "training.loss";
inline constexpr const char* kLossChunks = "training.loss_chunks";
inline constexpr const char* kFragmentation = "training.fragmentation";
inline constexpr const char* kGpu = "gpu.name";
inline constexpr const char* kMemoryBudget = "gpu.memory_budget";
inline constexpr const char* kCudaContext = "gpu.cuda_context";
inline constexpr const char* kCpuMemoryBudget = "cpu.memory_budget";
inline constexpr const char* kGpus = "layout.gpus";
inline constexpr const char* kGpusPerNode = "layout.gpus_per_node";
inline constexpr const char* kZeroStage = "layout.zero.stage";
inline constexpr const char* kOffloadOptimizer = "layout.zero.offload_optimizer.device";
inline constexpr const char* kOffloadOptimizerRatio = "layout.zero.offload_optimizer.ratio";
inline constexpr const char* kOffloadParam = "layout.zero.offload_param.device";
inline constexpr const char* kZeroInit = "layout.zero.zero3_init";
inline constexpr const char* kInterconnect = "layout.interconnect";
inline constexpr const char* kNcclChannels = "layout.nccl_channels";
inline constexpr const char* kHiddenSize = "model.hidden_size";  ///< a hidden size passed as an argument
inline constexpr const char* kDsNodes = "deepspeed_estimate.num_nodes";
inline constexpr const char* kDsGpusPerNode = "deepspeed_estimate.gpus_per_node";
inline constexpr const char* kDsBufferFactor = "deepspeed_estimate.additional_buffer_factor";
inline constexpr const char* kRecipe = "recipe";  ///< a framework recipe name (vramcalc/recipe.hpp)
inline constexpr const char* kSizes = "sizes";  ///< an intermediate byte count (overflow)
inline constexpr const char* kKernels = "training.kernels";                  ///< a named kernel set (hf, liger)
inline constexpr const char* kFusedNorm = "training.kernels.fused_norm";
inline constexpr const char* kFusedRope = "training.kernels.fused_rope";
inline constexpr const char* kFusedSwiglu = "training.kernels.fused_swiglu";
inline constexpr const char* kOptimizerInBackward = "training.optimizer_in_backward";
inline constexpr const char* kAcEvery = "training.ac_every";
inline constexpr const char* kInfer = "training.infer";
inline constexpr const char* kKvDtype = "training.kv_dtype";
inline constexpr const char* kLoraRank = "training.lora.rank";        ///< LoRA rank r (0: off)
inline constexpr const char* kLoraTargets = "training.lora.targets";  ///< adapted Linears
inline constexpr const char* kLoraDropout = "training.lora.dropout";  ///< lora_dropout
inline constexpr const char* kLoraDtype = "training.lora.dtype";      ///< adapter dtype (fp32, bf16)
inline constexpr const char* kBaseQuant = "training.lora.base_quant";  ///< quantized frozen base (nf4, fp4, int8)
inline constexpr const char* kDoubleQuant = "training.lora.double_quant";  ///< 4-bit double quantization of absmax
inline constexpr const char* kTp = "layout.tp";
inline constexpr const char* kSp = "layout.sp";
inline constexpr const char* kCp = "layout.cp";
inline constexpr const char* kPp = "layout.pp";
inline constexpr const char* kPpSchedule = "layout.pp_schedule";
inline constexpr const char* kMicrobatches = "layout.microbatches";
inline constexpr const char* kVirtualStages = "layout.virtual_stages";
inline constexpr const char* kMegatron = "layout.megatron";
inline constexpr const char* kFsdp = "layout.fsdp.version";
inline constexpr const char* kReshardAfterForward = "layout.fsdp.reshard_after_forward";
inline constexpr const char* kParamDtype = "layout.fsdp.param_dtype";
inline constexpr const char* kReduceDtype = "layout.fsdp.reduce_dtype";
inline constexpr const char* kKbitUpcast = "training.lora.kbit_upcast";  ///< prepare_model_for_kbit_training's fp32 upcast
inline constexpr const char* kLoraDora = "training.lora.dora";  ///< DoRA (use_dora): magnitude vectors + weight norm
inline constexpr const char* kHead = "model.head";              ///< the task head (encoders: mlm, seq-cls)
inline constexpr const char* kNumLabels = "model.num_labels";   ///< classes of the sequence-classification head
inline constexpr const char* kOffloadActivations = "training.offload_activations";  ///< torchtune activation offloading
inline constexpr const char* kCompile = "training.compile";  ///< torch.compile mode (none, model, blocks)
inline constexpr const char* kEp = "layout.ep";  ///< expert-parallel ranks
inline constexpr const char* kMoeImbalance = "training.moe.imbalance";  ///< max/mean routed tokens per expert-parallel rank
inline constexpr const char* kMoeCapacityFactor = "training.moe.capacity_factor";  ///< Megatron moe_expert_capacity_factor
inline constexpr const char* kMoePadToCapacity = "training.moe.pad_to_capacity";  ///< Megatron moe_pad_expert_input_to_capacity
inline constexpr const char* kDpReplicate = "layout.fsdp.replicate";  ///< HSDP replica groups
inline constexpr const char* kFsdpOffload = "layout.fsdp.cpu_offload";  ///< FSDP2 CPUOffloadPolicy
inline constexpr const char* kHiddenDropout = "training.hidden_dropout";  ///< dropout probability on the residual branches
/// DeepSpeed zero_optimization sizes a recipe sets (src/core/zero_knobs.cpp); named as the ds_config key.
inline constexpr const char* kReduceBucketSize = "ds_config.zero_optimization.reduce_bucket_size";
inline constexpr const char* kPrefetchBucketSize = "ds_config.zero_optimization.stage3_prefetch_bucket_size";
inline constexpr const char* kParamPersistenceThreshold = "ds_config.zero_optimization.stage3_param_persistence_threshold";
inline constexpr const char* kMaxLiveParameters = "ds_config.zero_optimization.stage3_max_live_parameters";
inline constexpr const char* kContiguousGradients = "ds_config.zero_optimization.contiguous_gradients";
inline constexpr const char* kFsdpWrap = "layout.fsdp.auto_wrap";  ///< FSDP1 auto-wrap: blocks | none (the root only)
inline constexpr const char* kFp8 = "training.fp8";  ///< torchao float8 training recipe (none, tensorwise, rowwise)
inline constexpr const char* kFp8AllGather = "layout.fsdp.fp8_all_gather";  ///< torchao enable_fsdp_float8_all_gather (FSDP2, tensorwise)
inline constexpr const char* kFp8AmaxHistory = "training.fp8_amax_history";  ///< TE DelayedScaling amax history length
inline constexpr const char* kFp8ParamGather = "training.fp8_param_gather";  ///< Megatron --fp8-param-gather (TE weights in fp8)
inline constexpr const char* kTpCommOverlap = "layout.tp_comm_overlap";  ///< Megatron --tp-comm-overlap (TE userbuffers)
inline constexpr const char* kTargetSeq = "training.target_seq";  ///< decoder length of an encoder-decoder (T5)
inline constexpr const char* kDropout = "training.dropout";  ///< the model's dropout probability (T5 dropout_rate), overriding its config
inline constexpr std::string_view kConfigPrefix = "config.";
inline constexpr std::string_view kDsConfigPrefix = "ds_config.";
}  // namespace field

/// The id of a model config.json key ("config.num_hidden_layers").
std::string config_field(std::string_view key);
/// The id of a ds_config.json key path ("ds_config.zero_optimization.stage").
std::string ds_config_field(std::string_view key_path);
/// How the core names a field id in messages: config and ds_config keys as the key path
/// written in the file, every other id as itself.
std::string_view field_label(std::string_view id);

/// The one-line message "<label>: '<value>': <problem>". Every InputError message and every
/// front end's error line is built here: the value is escaped (control characters as \n,
/// \x1b, \u2028; bytes that are not UTF-8 as \xNN; ' as \') and cut after 100 characters
/// with "…(N bytes)"; label and problem are escaped the same way and cut after 400.
std::string describe_input_error(std::string_view label, std::string_view value, std::string_view problem);
/// `text` escaped as describe_input_error escapes labels: always one printable line.
std::string one_line(std::string_view text);
/// `value` escaped and shortened as describe_input_error shows values (without the quotes).
std::string shown_value(std::string_view value);

/// A user input (model config field, setup field, config file) that cannot be used.
/// `field()` is a field id (see `vramcalc::field`), `value()` the value as given, `problem()`
/// what is wrong with it; `what()` is the complete one-line message.
class InputError : public std::runtime_error {
 public:
  InputError(std::string field, std::string value, const std::string& problem);
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_;
  std::string value_;
  std::string problem_;
};

}  // namespace vramcalc
