#pragma once
/// How the training job is laid out: data-parallel ranks, ZeRO stage and its knobs,
/// offload, model loading, and the interconnect. Defaults describe one GPU without ZeRO.

#include <cstdint>
#include <optional>
#include <string>

#include <vramcalc/deepspeed.hpp>
#include <vramcalc/megatron.hpp>
#include <vramcalc/pipeline_schedule.hpp>
#include <vramcalc/units.hpp>

namespace vramcalc {

/// The fabric between ranks; it decides NCCL's channel count, protocols and where its buffers
/// live (NVIDIA/nccl src/init.cc).
enum class Interconnect {
  kAuto,    ///< NVLink inside a node, InfiniBand across nodes
  kNvlink,  ///< NVLink / NVSwitch peer-to-peer
  kPcie,    ///< PCIe peer-to-peer
  kIb,      ///< InfiniBand / RoCE with GPUDirect RDMA
  kEfa,     ///< AWS EFA through aws-ofi-nccl (Simple protocol only)
};
const char* to_string(Interconnect value);
Interconnect parse_interconnect(const std::string& text);

/// PyTorch FSDP (torch.distributed.fsdp). FSDP2 = fully_shard on each decoder block and on the
/// root (the embedding, final norm and lm_head), torch/distributed/fsdp/_fully_shard/.
struct FsdpSettings {
  int version = 0;                          ///< 0 = off, 2 = FSDP2 (fully_shard)
  bool reshard_after_forward = true;        ///< blocks free their gathered parameters after forward
  bool reshard_root = false;                ///< the root too (explicit True; default None keeps it, PR #155319)
  std::optional<Bytes> param_dtype_bytes;   ///< MixedPrecisionPolicy.param_dtype; unset: by precision
  std::optional<Bytes> reduce_dtype_bytes;  ///< MixedPrecisionPolicy.reduce_dtype; unset: by precision
  std::uint64_t replicate = 1;  ///< HSDP: replica groups of a 2-D (replicate, shard) mesh; 1 = plain FSDP
  bool cpu_offload = false;     ///< FSDP2 CPUOffloadPolicy(pin_memory=True): shards, gradients, states and the step on the host
  bool wrap_blocks = true;      ///< FSDP1 auto_wrap_policy wraps each decoder block; false: the root only, one FlatParameter
  bool fp8_all_gather = false;  ///< torchao Float8LinearConfig(enable_fsdp_float8_all_gather=True): Float8Linear weights gathered in fp8
};

struct ParallelLayout {
  std::uint64_t gpus = 1;           ///< total ranks: data-parallel × tp × cp × pp
  std::uint64_t gpus_per_node = 1;  ///< GPUs that share one host
  ZeroSettings zero;                ///< stage 0 = no ZeRO; DeepSpeed defaults otherwise
  Interconnect interconnect = Interconnect::kAuto;
  std::optional<std::uint64_t> nccl_channels;  ///< override NCCL's channel count
  FsdpSettings fsdp;                           ///< PyTorch FSDP instead of ZeRO (version 0 = off)

  std::uint64_t tp = 1;             ///< tensor-parallel ranks (Megatron column/row-parallel linears)
  bool sp = false;                  ///< sequence parallelism over the tensor-parallel group
  std::uint64_t cp = 1;             ///< context-parallel ranks (the sequence is split)
  std::uint64_t pp = 1;             ///< pipeline stages
  PipelineSchedule pp_schedule = PipelineSchedule::kOneFOneB;
  std::uint64_t microbatches = 0;   ///< micro-batches per step through the pipeline; 0 = grad_accum
  std::uint64_t virtual_stages = 1; ///< model chunks per pipeline rank (interleaved schedule)
  MegatronOptimizer megatron = MegatronOptimizer::kNone;  ///< Megatron's fp32 main_grad buffer and optimizer
  std::uint64_t ep = 1;             ///< expert-parallel ranks: the routed experts split over ep ranks of the dp·cp group
  bool tp_comm_overlap = false;     ///< Megatron --tp-comm-overlap: Transformer Engine userbuffers (te_fp8.cpp)

  std::uint64_t nodes() const { return (gpus + gpus_per_node - 1) / gpus_per_node; }
  /// tp·cp·pp: the ranks that hold one replica of the model.
  std::uint64_t model_parallel() const { return tp * cp * pp; }
  /// The data-parallel ranks: gpus / (tp·cp·pp) (validate_layout checks the division).
  std::uint64_t data_parallel() const { return gpus / model_parallel(); }
  /// Whether any of tp, cp, pp is above 1.
  bool has_model_parallel() const { return model_parallel() > 1; }
};

/// How the model is loaded before training (transformers modeling_utils from_pretrained).
struct LoadSetup {
  std::optional<Bytes> dtype_bytes;   ///< from_pretrained dtype; unset = the checkpoint's torch_dtype
  Bytes checkpoint_shard = 5'000'000'000;  ///< save_pretrained's default max_shard_size ("5GB")
};

}  // namespace vramcalc
