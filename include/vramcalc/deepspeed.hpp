#pragma once
/// DeepSpeed: the ZeRO knobs of a ds_config.json resolved to the values DeepSpeed runs with
/// (deepspeed/runtime/zero/config.py), HF Trainer / Accelerate "auto" resolution, and DeepSpeed's own
/// model-states estimators reproduced exactly (deepspeed/runtime/zero/stage3.py, stage_1_and_2.py).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <vramcalc/units.hpp>

namespace vramcalc {

/// Where ZeRO-Offload / ZeRO-Infinity puts optimizer states or parameters.
enum class OffloadDevice { kNone, kCpu, kNvme };

/// "none", "cpu" or "nvme" (DeepSpeed's OffloadDeviceEnum values).
const char* to_string(OffloadDevice device);
/// Parses "none" | "cpu" | "nvme"; InputError(field, text) otherwise.
OffloadDevice parse_offload_device(const std::string& text, const std::string& field = "offload device");

/// zero_optimization.offload_optimizer ([DS] runtime/zero/offload_config.py).
struct OffloadOptimizerSettings {
  OffloadDevice device = OffloadDevice::kNone;
  bool pin_memory = true;          ///< True since DeepSpeed v0.19.5 (#8207); False before
  double ratio = 1.0;              ///< fraction of optimizer states offloaded (< 1 only with ZeRO-3)
  std::uint64_t buffer_count = 4;  ///< NVMe swap buffers
  std::string nvme_path;           ///< "" when not given
};

/// zero_optimization.offload_param ([DS] runtime/zero/offload_config.py). Stage 3 only.
struct OffloadParamSettings {
  OffloadDevice device = OffloadDevice::kNone;
  bool pin_memory = true;                    ///< True since DeepSpeed v0.19.5 (#8207); False before
  std::uint64_t buffer_count = 5;            ///< NVMe staging buffers
  std::uint64_t buffer_size = 100'000'000;   ///< elements per NVMe staging buffer (1e8)
  std::uint64_t max_in_cpu = 1'000'000'000;  ///< elements kept in CPU memory with NVMe (1e9)
  std::string nvme_path;                     ///< "" when not given
};

/// DeepSpeed's `sys.maxsize` default of stage3_model_persistence_threshold (2^63 - 1).
inline constexpr std::uint64_t kDeepSpeedMaxsize = 9'223'372'036'854'775'807ULL;

/// Every zero_optimization knob vramcalc uses, resolved to concrete values. The member
/// defaults are DeepSpeed's ([DS] runtime/zero/config.py::DeepSpeedZeroConfig) for stage 0;
/// use default_zero_settings() for a given stage.
struct ZeroSettings {
  int stage = 0;  ///< 0-3
  OffloadOptimizerSettings offload_optimizer;
  OffloadParamSettings offload_param;
  std::uint64_t reduce_bucket_size = 500'000'000;           ///< elements (5e8)
  std::uint64_t allgather_bucket_size = 500'000'000;        ///< elements (5e8)
  std::uint64_t stage3_prefetch_bucket_size = 50'000'000;   ///< elements (5e7)
  std::uint64_t stage3_param_persistence_threshold = 100'000;  ///< elements (1e5)
  std::uint64_t stage3_model_persistence_threshold = kDeepSpeedMaxsize;
  std::uint64_t stage3_max_live_parameters = 1'000'000'000;  ///< elements (1e9)
  std::uint64_t stage3_max_reuse_distance = 1'000'000'000;   ///< elements (1e9)
  std::uint64_t sub_group_size = 1'000'000'000;              ///< elements (1e9)
  bool overlap_comm = false;          ///< DeepSpeed: None -> true for stage 3, false otherwise
  bool contiguous_gradients = true;
  bool reduce_scatter = true;
  bool grad_accum_dtype_fp32 = false; ///< "data_types": {"grad_accum_dtype": "fp32"}
  bool zero3_init = false;            ///< zero.Init at model load (true for stage 3, as Accelerate's zero3_init_flag)
};

/// DeepSpeed's defaults for `stage` (0-3; InputError otherwise). With `hf_auto`, the keys HF
/// Trainer / Accelerate fill from the model when they are "auto": reduce_bucket_size = h·h
/// (any stage) and, for stage 3 only, stage3_prefetch_bucket_size = int(0.9·h·h) and
/// stage3_param_persistence_threshold = 10·h. `hidden_size` must be positive with `hf_auto`.
ZeroSettings default_zero_settings(int stage, std::uint64_t hidden_size, bool hf_auto);

/// What vramcalc reads from a ds_config.json. Unset optionals were absent or "auto" (the
/// trainer decides them).
struct DeepSpeedConfig {
  ZeroSettings zero;
  std::optional<bool> bf16;                    ///< bf16.enabled (or the legacy "bfloat16" section)
  std::optional<bool> fp16;                    ///< fp16.enabled
  std::optional<std::uint64_t> micro_batch;    ///< train_micro_batch_size_per_gpu
  std::optional<std::uint64_t> grad_accum;     ///< gradient_accumulation_steps
  std::optional<std::string> communication_data_type;  ///< "fp32" | "fp16" | "bf16" when set
  std::vector<std::string> warnings;           ///< unknown keys and ignored settings, one line each
  std::string origin;                          ///< the file (or name) the text came from
};

/// Parses ds_config.json text. "auto" values are resolved as HF Trainer / Accelerate do with
/// `hidden_size` (0 = unknown: DeepSpeed's defaults, with a warning). `origin` names the text
/// in errors. Throws InputError naming the key path and value for malformed JSON, wrong
/// types, and values DeepSpeed rejects; unknown keys become warnings.
DeepSpeedConfig parse_deepspeed_config(const std::string& json_text, const std::string& origin,
                                       std::uint64_t hidden_size);
/// Reads and parses a ds_config.json file.
DeepSpeedConfig load_deepspeed_config(const std::string& path, std::uint64_t hidden_size);

/// One row of DeepSpeed's estimator tables: bytes per CPU host and per GPU, and DeepSpeed's
/// option label (e.g. "offload_param=cpu , offload_optimizer=cpu , zero_init=1").
struct DeepSpeedEstimateRow {
  Bytes cpu_bytes = 0;
  Bytes gpu_bytes = 0;
  std::string options;
};

/// [DS] stage3.py::estimate_zero3_model_states_mem_needs for the six option rows that
/// estimate_zero3_model_states_mem_needs_all_cold prints, in its order: offload_param=cpu /
/// offload_optimizer=cpu (zero_init 1, 0), none/cpu (1, 0), none/none (1, 0). Model states
/// only; the buffer factor applies to CPU memory only.
std::vector<DeepSpeedEstimateRow> deepspeed_zero3_model_states_estimate(std::uint64_t total_params,
                                                                        std::uint64_t largest_layer_params,
                                                                        std::uint64_t gpus_per_node,
                                                                        std::uint64_t num_nodes,
                                                                        double additional_buffer_factor = 1.5);

/// [DS] stage_1_and_2.py::estimate_zero2_model_states_mem_needs, current code (2P + 18P/N,
/// since DeepSpeed #5099): rows offload_optimizer=cpu, offload_optimizer=none.
std::vector<DeepSpeedEstimateRow> deepspeed_zero2_model_states_estimate(std::uint64_t total_params,
                                                                        std::uint64_t gpus_per_node,
                                                                        std::uint64_t num_nodes,
                                                                        double additional_buffer_factor = 1.5);

}  // namespace vramcalc
