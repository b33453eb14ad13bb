// ds_config.json → ZeroSettings, with DeepSpeed's defaults ([DS] runtime/zero/config.py,
// runtime/zero/offload_config.py, runtime/config.py) and HF Trainer / Accelerate "auto"
// resolution ([HF] integrations/deepspeed.py::trainer_config_finalize, [ACC]
// accelerator.py::_prepare_deepspeed). DeepSpeed's model-states estimators follow
// [DS] runtime/zero/stage3.py and stage_1_and_2.py operation by operation.
#include <vramcalc/deepspeed.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/json_input.hpp"
#include "core/spellcheck.hpp"
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultBucket = 500'000'000;       // reduce/allgather_bucket_size 5e8
constexpr std::uint64_t kDefaultPrefetch = 50'000'000;      // stage3_prefetch_bucket_size 5e7
constexpr std::uint64_t kDefaultPersistence = 100'000;      // stage3_param_persistence_threshold 1e5

// A value as the user wrote it (InputError escapes and shortens it; nesting is bounded by the
// parser, so dump() cannot recurse deeply).
std::string shown(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

bool is_auto(const json& value) { return value.is_string() && value.get<std::string>() == "auto"; }

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// A non-negative integer; whole-number floats (5e8) are accepted as pydantic does.
std::optional<std::uint64_t> as_count(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v >= 0) return static_cast<std::uint64_t>(v);
    return std::nullopt;
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && d >= 0.0 && d < 18446744073709551616.0 && std::floor(d) == d) {
      return static_cast<std::uint64_t>(d);
    }
  }
  return std::nullopt;
}

class Reader {
 public:
  Reader(const std::string& origin, std::uint64_t hidden_size, std::vector<std::string>& warnings)
      : origin_(origin), hidden_(hidden_size), warnings_(warnings) {}

  std::uint64_t count(const json& value, const std::string& path) const {
    if (const auto c = as_count(value)) return *c;
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected a non-negative integer in {}", origin_));
  }
  std::uint64_t positive(const json& value, const std::string& path) const {
    if (const auto c = as_count(value); c && *c > 0) return *c;
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected a positive integer or \"auto\" in {}", origin_));
  }
  bool boolean(const json& value, const std::string& path) const {
    if (value.is_boolean()) return value.get<bool>();
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected true or false in {}", origin_));
  }
  double number(const json& value, const std::string& path) const {
    if (value.is_number() && value.get<double>() >= 0.0) return value.get<double>();
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected a non-negative number in {}", origin_));
  }
  double fraction(const json& value, const std::string& path) const {
    if (value.is_number() && value.get<double>() >= 0.0 && value.get<double>() <= 1.0) return value.get<double>();
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected a number from 0 to 1 in {}", origin_));
  }
  std::string text(const json& value, const std::string& path) const {
    if (value.is_string()) return value.get<std::string>();
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected a string in {}", origin_));
  }
  const json& object(const json& value, const std::string& path) const {
    if (value.is_object()) return value;
    throw InputError(ds_config_field(path), shown(value), fmt::format("expected a JSON object in {}", origin_));
  }
  OffloadDevice device(const json& value, const std::string& path) const {
    if (!value.is_string()) {
      throw InputError(ds_config_field(path), shown(value), fmt::format("expected none, cpu or nvme in {}", origin_));
    }
    const std::string name = value.get<std::string>();
    for (OffloadDevice d : {OffloadDevice::kNone, OffloadDevice::kCpu, OffloadDevice::kNvme}) {
      if (name == to_string(d)) return d;
    }
    throw InputError(ds_config_field(path), name, fmt::format("expected none, cpu or nvme in {}", origin_));
  }

  void warn(std::string message) { warnings_.push_back(std::move(message)); }
  void unknown(const std::string& path, const std::string& key, const std::vector<std::string>& known,
               const char* why) {
    std::string message = fmt::format("{}: unknown key, ignored ({})", join_path(path, key), why);
    const std::string suggestion = detail::closest_match(key, known);
    if (!suggestion.empty()) message += fmt::format("; did you mean '{}'?", suggestion);
    warn(std::move(message));
  }
  // "auto" on a key that neither HF Trainer nor Accelerate fills: DeepSpeed drops "auto"
  // values (DeepSpeedConfigModel, strict=False), so its default applies.
  void auto_default(const std::string& path) {
    warn(fmt::format("{}: \"auto\" is not filled in by HF Trainer or Accelerate; DeepSpeed uses its default", path));
  }

  const std::string& origin() const { return origin_; }
  std::uint64_t hidden() const { return hidden_; }

 private:
  const std::string& origin_;
  std::uint64_t hidden_;
  std::vector<std::string>& warnings_;
};

// zero_optimization keys DeepSpeed accepts (field names and their stage3_ aliases).
const std::vector<std::string>& known_zero_keys() {
  static const std::vector<std::string> keys{
      "stage", "contiguous_gradients", "reduce_scatter", "reduce_bucket_size", "use_multi_rank_bucket_allreduce",
      "allgather_partitions", "allgather_bucket_size", "overlap_comm", "load_from_fp32_weights",
      "elastic_checkpoint", "offload_param", "offload_optimizer", "zenflow", "sub_group_size", "cpu_offload_param",
      "cpu_offload_use_pin_memory", "cpu_offload", "prefetch_bucket_size", "stage3_prefetch_bucket_size",
      "param_persistence_threshold", "stage3_param_persistence_threshold", "model_persistence_threshold",
      "stage3_model_persistence_threshold", "max_live_parameters", "stage3_max_live_parameters",
      "max_reuse_distance", "stage3_max_reuse_distance", "gather_16bit_weights_on_model_save",
      "stage3_gather_16bit_weights_on_model_save", "module_granularity_threshold",
      "stage3_module_granularity_threshold", "use_all_reduce_for_fetch_params",
      "stage3_use_all_reduce_for_fetch_params", "allgather_sequential", "stage3_allgather_sequential",
      "stage3_gather_fp16_weights_on_model_save", "ignore_unused_parameters", "legacy_stage1",
      "round_robin_gradients", "zero_hpz_partition_size", "zero_quantized_weights",
      "zero_quantized_nontrainable_weights", "zero_quantized_gradients", "zeropp_loco_param", "mics_shard_size",
      "mics_hierarchical_params_gather", "memory_efficient_linear", "pipeline_loading_checkpoint",
      "override_module_apply", "log_trace_cache_warnings", "enable_sanity_checks",
      "save_muon_momentum_buffer_in_memory", "leaf_module"};
  return keys;
}

// The zero_optimization keys that set a ZeroSettings field ("auto" on one HF does not fill
// is worth a warning; on the others it does not matter).
const std::vector<std::string>& used_zero_keys() {
  static const std::vector<std::string> keys{
      "contiguous_gradients", "reduce_scatter", "allgather_bucket_size", "overlap_comm", "offload_param",
      "offload_optimizer", "sub_group_size", "cpu_offload_param", "cpu_offload", "prefetch_bucket_size",
      "param_persistence_threshold", "model_persistence_threshold", "stage3_model_persistence_threshold",
      "max_live_parameters", "stage3_max_live_parameters", "max_reuse_distance", "stage3_max_reuse_distance"};
  return keys;
}

const std::vector<std::string>& known_offload_optimizer_keys() {
  static const std::vector<std::string> keys{"device",        "nvme_path", "buffer_count", "pin_memory",
                                             "pipeline_read", "pipeline_write", "fast_init", "ratio",
                                             "super_offload", "cpuadam_cores_perc"};
  return keys;
}

const std::vector<std::string>& known_offload_param_keys() {
  static const std::vector<std::string> keys{"device",     "nvme_path",  "buffer_count",
                                             "buffer_size", "max_in_cpu", "pin_memory"};
  return keys;
}

// Top-level keys DeepSpeed (runtime/config.py and the configs it delegates to) reads.
const std::vector<std::string>& known_top_level_keys() {
  static const std::vector<std::string> keys{
      "train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "optimizer",
      "scheduler", "fp16", "bf16", "bfloat16", "amp", "torch_autocast", "zero_optimization",
      "zero_allow_untested_optimizer", "zero_force_ds_cpu_optimizer", "gradient_clipping", "steps_per_print",
      "wall_clock_breakdown", "dump_state", "memory_breakdown", "prescale_gradients", "gradient_predivide_factor",
      "gradient_allreduce_op", "sparse_gradients", "communication_data_type", "seq_parallel_communication_data_type",
      "disable_allgather", "activation_checkpointing", "flops_profiler", "comms_logger", "tensorboard", "wandb",
      "csv_monitor", "comet", "aio", "data_types", "data_efficiency", "curriculum_learning", "compression_training",
      "elasticity", "autotuning", "checkpoint", "pipeline", "hybrid_engine", "sparse_attention", "eigenvalue",
      "progressive_layer_drop", "quantize_training", "dataloader_drop_last", "nebula", "compile", "timers",
      "tensor_parallel", "expert_parallel", "weight_quantization", "use_data_before_expert_parallelism",
      "graph_harvesting", "managed_gradient_accumulation", "log_level", "vocabulary_size"};
  return keys;
}

bool contains(const std::vector<std::string>& list, const std::string& key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

// What a recognised key holds (DeepSpeed's pydantic models and get_scalar_param defaults).
enum class Kind { kBool, kCount, kPositive, kNumber, kFraction, kString, kObject, kSignedInt };

struct KeyKind {
  const char* key;
  Kind kind;
};

// Top-level keys whose values vramcalc does not use but DeepSpeed type-checks; a wrong type
// here is a config DeepSpeed rejects, so it is an error here too.
constexpr KeyKind kTopLevelKinds[] = {
    {"train_batch_size", Kind::kPositive},     {"optimizer", Kind::kObject},
    {"scheduler", Kind::kObject},              {"amp", Kind::kObject},
    {"torch_autocast", Kind::kObject},         {"gradient_clipping", Kind::kNumber},
    {"steps_per_print", Kind::kCount},         {"wall_clock_breakdown", Kind::kBool},
    {"dump_state", Kind::kBool},               {"memory_breakdown", Kind::kBool},
    {"prescale_gradients", Kind::kBool},       {"gradient_predivide_factor", Kind::kNumber},
    {"sparse_gradients", Kind::kBool},         {"zero_allow_untested_optimizer", Kind::kBool},
    {"zero_force_ds_cpu_optimizer", Kind::kBool}, {"disable_allgather", Kind::kBool},
    {"dataloader_drop_last", Kind::kBool},     {"use_data_before_expert_parallelism", Kind::kBool},
    {"graph_harvesting", Kind::kBool},         {"seq_parallel_communication_data_type", Kind::kString},
    {"gradient_allreduce_op", Kind::kString},  {"vocabulary_size", Kind::kPositive},
    {"activation_checkpointing", Kind::kObject}, {"flops_profiler", Kind::kObject},
    {"comms_logger", Kind::kObject},           {"tensorboard", Kind::kObject},
    {"wandb", Kind::kObject},                  {"csv_monitor", Kind::kObject},
    {"comet", Kind::kObject},                  {"aio", Kind::kObject},
    {"data_efficiency", Kind::kObject},        {"curriculum_learning", Kind::kObject},
    {"compression_training", Kind::kObject},   {"elasticity", Kind::kObject},
    {"autotuning", Kind::kObject},             {"checkpoint", Kind::kObject},
    {"pipeline", Kind::kObject},               {"hybrid_engine", Kind::kObject},
    {"sparse_attention", Kind::kObject},       {"eigenvalue", Kind::kObject},
    {"progressive_layer_drop", Kind::kObject}, {"quantize_training", Kind::kObject},
    {"nebula", Kind::kObject},                 {"compile", Kind::kObject},
    {"timers", Kind::kObject},                 {"tensor_parallel", Kind::kObject},
    {"expert_parallel", Kind::kObject},        {"weight_quantization", Kind::kObject},
};

// "optimizer" and "scheduler": {"type": ..., "params": {...}} ([DS] runtime/config.py).
constexpr KeyKind kTypedSectionKinds[] = {{"type", Kind::kString}, {"params", Kind::kObject}};

// fp16 / bf16 section keys ([DS] runtime/precision_config.py).
constexpr KeyKind kFp16Kinds[] = {
    {"enabled", Kind::kBool},           {"auto_cast", Kind::kBool},         {"loss_scale", Kind::kNumber},
    {"initial_scale_power", Kind::kCount}, {"loss_scale_window", Kind::kPositive}, {"hysteresis", Kind::kPositive},
    {"consecutive_hysteresis", Kind::kBool}, {"min_loss_scale", Kind::kNumber},
    {"fp16_master_weights_and_grads", Kind::kBool}};
constexpr KeyKind kBf16Kinds[] = {{"enabled", Kind::kBool},
                                  {"immediate_grad_update", Kind::kBool},
                                  {"check_grad_overflow", Kind::kBool},
                                  {"bf16_master_weights_and_grads", Kind::kBool},
                                  {"bf16_optimizer_states", Kind::kBool}};

// zero_optimization keys vramcalc does not use ([DS] runtime/zero/config.py).
constexpr KeyKind kZeroKinds[] = {
    {"allgather_partitions", Kind::kBool},
    {"load_from_fp32_weights", Kind::kBool},
    {"elastic_checkpoint", Kind::kBool},
    {"gather_16bit_weights_on_model_save", Kind::kBool},
    {"stage3_gather_16bit_weights_on_model_save", Kind::kBool},
    {"stage3_gather_fp16_weights_on_model_save", Kind::kBool},
    {"ignore_unused_parameters", Kind::kBool},
    {"legacy_stage1", Kind::kBool},
    {"round_robin_gradients", Kind::kBool},
    {"zero_quantized_weights", Kind::kBool},
    {"zero_quantized_nontrainable_weights", Kind::kBool},
    {"zero_quantized_gradients", Kind::kBool},
    {"mics_hierarchical_params_gather", Kind::kBool},
    {"use_multi_rank_bucket_allreduce", Kind::kBool},
    {"memory_efficient_linear", Kind::kBool},
    {"pipeline_loading_checkpoint", Kind::kBool},
    {"override_module_apply", Kind::kBool},
    {"log_trace_cache_warnings", Kind::kBool},
    {"enable_sanity_checks", Kind::kBool},
    {"use_all_reduce_for_fetch_params", Kind::kBool},
    {"stage3_use_all_reduce_for_fetch_params", Kind::kBool},
    {"allgather_sequential", Kind::kBool},
    {"stage3_allgather_sequential", Kind::kBool},
    {"save_muon_momentum_buffer_in_memory", Kind::kBool},
    {"zero_hpz_partition_size", Kind::kPositive},
    {"mics_shard_size", Kind::kSignedInt},
    {"module_granularity_threshold", Kind::kCount},
    {"stage3_module_granularity_threshold", Kind::kCount},
    {"zeropp_loco_param", Kind::kObject},
    {"zenflow", Kind::kObject},
    {"leaf_module", Kind::kObject},
};

// offload_optimizer keys vramcalc does not use ([DS] runtime/zero/offload_config.py).
constexpr KeyKind kOffloadOptimizerKinds[] = {{"pipeline_read", Kind::kBool},
                                              {"pipeline_write", Kind::kBool},
                                              {"fast_init", Kind::kBool},
                                              {"super_offload", Kind::kBool},
                                              {"cpuadam_cores_perc", Kind::kFraction}};

template <std::size_t N>
const KeyKind* kind_of(const KeyKind (&table)[N], const std::string& key) {
  for (const auto& k : table) {
    if (key == k.key) return &k;
  }
  return nullptr;
}

// Checks a value against its kind; null (DeepSpeed's default) and "auto" (filled by HF or
// dropped by DeepSpeed) pass for scalars.
void check_kind(const json& value, Kind kind, const std::string& path, Reader& r) {
  if (value.is_null()) return;
  if (kind == Kind::kObject) {
    r.object(value, path);
    return;
  }
  if (is_auto(value)) return;
  switch (kind) {
    case Kind::kBool: r.boolean(value, path); break;
    case Kind::kCount: r.count(value, path); break;
    case Kind::kPositive: r.positive(value, path); break;
    case Kind::kNumber: r.number(value, path); break;
    case Kind::kFraction: r.fraction(value, path); break;
    case Kind::kString: r.text(value, path); break;
    case Kind::kSignedInt:
      if (!value.is_number_integer()) {
        throw InputError(ds_config_field(path), shown(value), fmt::format("expected an integer in {}", r.origin()));
      }
      break;
    case Kind::kObject: break;
  }
}

template <std::size_t N>
void check_known(const json& section, const KeyKind (&table)[N], const std::string& path, Reader& r) {
  if (!section.is_object()) return;
  for (const auto& [key, value] : section.items()) {
    if (const KeyKind* k = kind_of(table, key)) check_kind(value, k->kind, join_path(path, key), r);
  }
}

void parse_offload_optimizer(const json& section, const std::string& path, Reader& r, OffloadOptimizerSettings& out) {
  if (section.is_null()) return;
  r.object(section, path);
  for (const auto& [key, value] : section.items()) {
    const std::string at = join_path(path, key);
    if (!contains(known_offload_optimizer_keys(), key)) {
      r.unknown(path, key, known_offload_optimizer_keys(), "DeepSpeed rejects unknown offload_optimizer keys");
      continue;
    }
    if (is_auto(value)) {
      if (key == "device" || key == "pin_memory" || key == "buffer_count" || key == "ratio") r.auto_default(at);
      continue;
    }
    if (key == "device") out.device = r.device(value, at);
    else if (key == "pin_memory") out.pin_memory = r.boolean(value, at);
    else if (key == "buffer_count") out.buffer_count = r.count(value, at);
    else if (key == "ratio") out.ratio = r.fraction(value, at);
    else if (key == "nvme_path" && !value.is_null()) out.nvme_path = r.text(value, at);
    else if (const KeyKind* k = kind_of(kOffloadOptimizerKinds, key)) check_kind(value, k->kind, at, r);
  }
}

void parse_offload_param(const json& section, const std::string& path, Reader& r, OffloadParamSettings& out) {
  if (section.is_null()) return;
  r.object(section, path);
  for (const auto& [key, value] : section.items()) {
    const std::string at = join_path(path, key);
    if (!contains(known_offload_param_keys(), key)) {
      r.unknown(path, key, known_offload_param_keys(), "DeepSpeed rejects unknown offload_param keys");
      continue;
    }
    if (is_auto(value)) {
      if (key != "nvme_path") r.auto_default(at);
      continue;
    }
    if (key == "device") out.device = r.device(value, at);
    else if (key == "pin_memory") out.pin_memory = r.boolean(value, at);
    else if (key == "buffer_count") out.buffer_count = r.count(value, at);
    else if (key == "buffer_size") out.buffer_size = r.count(value, at);
    else if (key == "max_in_cpu") out.max_in_cpu = r.count(value, at);
    else if (key == "nvme_path" && !value.is_null()) out.nvme_path = r.text(value, at);
  }
}

int parse_stage(const json& zero, Reader& r) {
  const auto it = zero.find("stage");
  if (it == zero.end() || it->is_null()) return 0;
  if (is_auto(*it)) {
    r.auto_default("zero_optimization.stage");
    return 0;
  }
  if (const auto s = as_count(*it); s && *s <= 3) return static_cast<int>(*s);
  throw InputError(ds_config_field("zero_optimization.stage"), shown(*it), fmt::format("expected an integer 0-3 in {}", r.origin()));
}

// Settings DeepSpeed would accept but vramcalc does not model; a warning when turned on.
void warn_unmodeled(const std::string& key, const json& value, Reader& r) {
  const std::string at = "zero_optimization." + key;
  const auto n = as_count(value);
  if ((key == "zero_hpz_partition_size" && n && *n > 1) || (key == "mics_shard_size" && n && *n > 0)) {
    r.warn(fmt::format("{} = {}: {} is not modeled; the estimate assumes plain ZeRO sharding", at, shown(value),
                       key == "mics_shard_size" ? "MiCS" : "ZeRO++ hierarchical partitioning (hpZ)"));
  } else if ((key == "zero_quantized_weights" || key == "zero_quantized_nontrainable_weights" ||
              key == "zero_quantized_gradients") &&
             value.is_boolean() && value.get<bool>()) {
    r.warn(fmt::format("{} = true: ZeRO++ quantization is not modeled", at));
  } else if (key == "zenflow" && !value.is_null()) {
    r.warn(fmt::format("{}: ZenFlow is not modeled", at));
  }
}

// The hidden-size keys HF/Accelerate fill when "auto" (only the stage3_ names, as they do).
void resolve_hf_auto(const std::string& key, int stage, std::uint64_t& field, std::uint64_t fallback, Reader& r) {
  const std::string at = "zero_optimization." + key;
  const bool stage3_key = key != "reduce_bucket_size";
  const std::uint64_t h = r.hidden();
  if (stage3_key && stage != 3) {
    field = fallback;  // HF fills these only for ZeRO-3; DeepSpeed drops "auto" (unused below stage 3)
    return;
  }
  if (h == 0) {
    field = fallback;
    r.warn(fmt::format("{}: \"auto\" needs the model's hidden_size; using DeepSpeed's default {}", at, fallback));
    return;
  }
  const ZeroSettings filled = default_zero_settings(stage, h, true);
  if (key == "reduce_bucket_size") field = filled.reduce_bucket_size;
  else if (key == "stage3_prefetch_bucket_size") field = filled.stage3_prefetch_bucket_size;
  else field = filled.stage3_param_persistence_threshold;
}

// An "auto" value: resolved as HF does for the hidden-size keys, DeepSpeed's default otherwise.
void apply_auto(const std::string& key, int stage, ZeroSettings& s, Reader& r) {
  if (key == "reduce_bucket_size") resolve_hf_auto(key, stage, s.reduce_bucket_size, kDefaultBucket, r);
  else if (key == "stage3_prefetch_bucket_size") resolve_hf_auto(key, stage, s.stage3_prefetch_bucket_size, kDefaultPrefetch, r);
  else if (key == "stage3_param_persistence_threshold")
    resolve_hf_auto(key, stage, s.stage3_param_persistence_threshold, kDefaultPersistence, r);
  else if (contains(used_zero_keys(), key)) r.auto_default("zero_optimization." + key);
}

// Whether `key` is one of the size counts, and if so sets it.
bool apply_count_key(const std::string& key, const json& value, const std::string& at, ZeroSettings& s, Reader& r) {
  std::uint64_t* field = nullptr;
  if (key == "reduce_bucket_size") field = &s.reduce_bucket_size;
  else if (key == "allgather_bucket_size") field = &s.allgather_bucket_size;
  else if (key == "stage3_prefetch_bucket_size" || key == "prefetch_bucket_size") field = &s.stage3_prefetch_bucket_size;
  else if (key == "stage3_param_persistence_threshold" || key == "param_persistence_threshold")
    field = &s.stage3_param_persistence_threshold;
  else if (key == "stage3_model_persistence_threshold" || key == "model_persistence_threshold")
    field = &s.stage3_model_persistence_threshold;
  else if (key == "stage3_max_live_parameters" || key == "max_live_parameters") field = &s.stage3_max_live_parameters;
  else if (key == "stage3_max_reuse_distance" || key == "max_reuse_distance") field = &s.stage3_max_reuse_distance;
  else if (key == "sub_group_size") field = &s.sub_group_size;
  if (field == nullptr) return false;
  *field = r.count(value, at);
  return true;
}

// What parsing the keys found beyond ZeroSettings itself.
struct ZeroKeysSeen {
  std::optional<bool> overlap_comm;
  bool offload_optimizer = false;
  bool offload_param = false;
};

// One key of zero_optimization (not "stage", not "auto").
void apply_zero_key(const std::string& key, const json& value, ZeroSettings& s, ZeroKeysSeen& seen, Reader& r) {
  const std::string at = "zero_optimization." + key;
  if (apply_count_key(key, value, at, s, r)) return;
  if (key == "contiguous_gradients") {
    s.contiguous_gradients = r.boolean(value, at);
  } else if (key == "reduce_scatter") {
    s.reduce_scatter = r.boolean(value, at);
  } else if (key == "overlap_comm") {
    if (!value.is_null()) seen.overlap_comm = r.boolean(value, at);
  } else if (key == "offload_optimizer") {
    seen.offload_optimizer = true;
    parse_offload_optimizer(value, at, r, s.offload_optimizer);
  } else if (key == "offload_param") {
    seen.offload_param = true;
    parse_offload_param(value, at, r, s.offload_param);
  } else {
    if (const KeyKind* k = kind_of(kZeroKinds, key)) check_kind(value, k->kind, at, r);
    warn_unmodeled(key, value, r);
  }
}

// Deprecated booleans (DeepSpeedConfigModel._process_deprecated_field): they set the new
// section, and may not be given together with it.
void apply_legacy_offload(const json& zero, const ZeroKeysSeen& seen, ZeroSettings& s, Reader& r) {
  auto legacy = [&](const char* key, const char* replacement, bool has_replacement, OffloadDevice& device) {
    const auto it = zero.find(key);
    if (it == zero.end() || is_auto(*it)) return;
    const std::string at = fmt::format("zero_optimization.{}", key);
    if (has_replacement) {
      throw InputError(ds_config_field(at), shown(*it),
                       fmt::format("cannot be given together with zero_optimization.{} (DeepSpeed rejects this) in {}",
                                   replacement, r.origin()));
    }
    if (it->is_null()) return;
    const bool on = r.boolean(*it, at);
    r.warn(fmt::format("{}: deprecated; DeepSpeed reads it as {} device {}", at, replacement, on ? "cpu" : "none"));
    if (on) device = OffloadDevice::kCpu;
  };
  legacy("cpu_offload", "offload_optimizer", seen.offload_optimizer, s.offload_optimizer.device);
  legacy("cpu_offload_param", "offload_param", seen.offload_param, s.offload_param.device);
  if (const auto it = zero.find("cpu_offload_use_pin_memory"); it != zero.end() && !it->is_null()) {
    r.boolean(*it, "zero_optimization.cpu_offload_use_pin_memory");
    r.warn("zero_optimization.cpu_offload_use_pin_memory: deprecated and ignored by DeepSpeed; set pin_memory in "
           "offload_optimizer / offload_param");
  }
}

// Offload settings the stage cannot use: DeepSpeed asserts on some, ignores others.
void check_offload_for_stage(int stage, ZeroSettings& s, Reader& r) {
  if (s.offload_optimizer.ratio < 1.0 && stage != 3) {
    throw InputError(ds_config_field("zero_optimization.offload_optimizer.ratio"), fmt::format("{}", s.offload_optimizer.ratio),
                     fmt::format("partial offload (ratio < 1) needs ZeRO stage 3 (DeepSpeed asserts this) in {}",
                                 r.origin()));
  }
  if (s.offload_param.device != OffloadDevice::kNone && stage != 3) {
    r.warn(fmt::format("zero_optimization.offload_param: device {} is used only by ZeRO stage 3; ignored at stage {}",
                       to_string(s.offload_param.device), stage));
    s.offload_param.device = OffloadDevice::kNone;
  }
  if (s.offload_optimizer.device != OffloadDevice::kNone && stage == 0) {
    r.warn(fmt::format("zero_optimization.offload_optimizer: device {} needs ZeRO stage 1-3; ignored at stage 0",
                       to_string(s.offload_optimizer.device)));
    s.offload_optimizer.device = OffloadDevice::kNone;
  }
  if (s.offload_optimizer.device == OffloadDevice::kNvme && s.offload_optimizer.nvme_path.empty()) {
    r.warn("zero_optimization.offload_optimizer: device nvme without nvme_path; DeepSpeed needs one");
  }
  if (s.offload_param.device == OffloadDevice::kNvme && s.offload_param.nvme_path.empty()) {
    r.warn("zero_optimization.offload_param: device nvme without nvme_path; DeepSpeed needs one");
  }
}

ZeroSettings parse_zero(const json& zero, Reader& r) {
  if (zero.is_boolean()) {
    // DeepSpeed's deprecated form (read_zero_config_deprecated): true = stage 1.
    const int stage = zero.get<bool>() ? 1 : 0;
    r.warn(fmt::format("zero_optimization: {}: deprecated boolean form; DeepSpeed reads it as stage {}", shown(zero),
                       stage));
    return default_zero_settings(stage, 0, false);
  }
  if (zero.is_null()) return default_zero_settings(0, 0, false);
  r.object(zero, "zero_optimization");
  const int stage = parse_stage(zero, r);
  ZeroSettings s = default_zero_settings(stage, 0, false);
  ZeroKeysSeen seen;
  for (const auto& [key, value] : zero.items()) {
    if (!contains(known_zero_keys(), key)) {
      r.unknown("zero_optimization", key, known_zero_keys(), "DeepSpeed rejects unknown zero_optimization keys");
    } else if (key != "stage") {
      if (is_auto(value)) apply_auto(key, stage, s, r);
      else apply_zero_key(key, value, s, seen, r);
    }
  }
  apply_legacy_offload(zero, seen, s, r);
  s.overlap_comm = seen.overlap_comm.value_or(stage == 3);  // validator overlap_comm_valid
  check_offload_for_stage(stage, s, r);
  return s;
}

// "bf16" / "bfloat16" / "fp16" sections: {"enabled": true|false|"auto"}; a section without
// "enabled" is disabled (get_scalar_param default False).
std::optional<bool> parse_precision_section(const json& root, const char* key, Reader& r) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::nullopt;
  r.object(*it, key);
  if (std::string_view(key) == "fp16") check_known(*it, kFp16Kinds, key, r);
  else check_known(*it, kBf16Kinds, key, r);
  const auto enabled = it->find("enabled");
  if (enabled == it->end()) return false;
  if (is_auto(*enabled)) return std::nullopt;
  return r.boolean(*enabled, fmt::format("{}.enabled", key));
}

std::optional<std::uint64_t> parse_batch_key(const json& root, const char* key, Reader& r) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null() || is_auto(*it)) return std::nullopt;
  return r.positive(*it, key);
}

bool dtype_is_fp32(const json& value, const std::string& path, Reader& r) {
  const std::string name = r.text(value, path);
  static const std::array<std::string_view, 4> fp32{"fp32", "float32", "float", "torch.float32"};
  static const std::array<std::string_view, 8> half{"fp16",     "float16", "half",   "torch.float16",
                                                    "bf16",     "bfloat16", "bfloat", "torch.bfloat16"};
  if (std::find(fp32.begin(), fp32.end(), name) != fp32.end()) return true;
  if (std::find(half.begin(), half.end(), name) != half.end()) return false;
  throw InputError(ds_config_field(path), name, fmt::format("expected fp32, fp16 or bf16 in {}", r.origin()));
}

}  // namespace

const char* to_string(OffloadDevice device) {
  switch (device) {
    case OffloadDevice::kNone: return "none";
    case OffloadDevice::kCpu: return "cpu";
    case OffloadDevice::kNvme: return "nvme";
  }
  return "?";
}

OffloadDevice parse_offload_device(const std::string& text, const std::string& field) {
  for (OffloadDevice d : {OffloadDevice::kNone, OffloadDevice::kCpu, OffloadDevice::kNvme}) {
    if (detail::lower(text) == to_string(d)) return d;
  }
  throw InputError(field, text, "expected none, cpu or nvme");
}

ZeroSettings default_zero_settings(int stage, std::uint64_t hidden_size, bool hf_auto) {
  if (stage < 0 || stage > 3) {
    throw InputError(field::kZeroStage, std::to_string(stage), "expected an integer 0-3");
  }
  ZeroSettings s;
  s.stage = stage;
  s.overlap_comm = stage == 3;
  s.zero3_init = stage == 3;
  if (hf_auto) {
    if (hidden_size == 0) {
      throw InputError(field::kHiddenSize, "0", "needed to resolve the HF \"auto\" ZeRO bucket sizes");
    }
    const std::uint64_t hh = checked_mul(hidden_size, hidden_size);
    s.reduce_bucket_size = hh;
    if (stage == 3) {
      // int(0.9 * hidden_size * hidden_size): Python evaluates (0.9 * h) * h in floating point.
      const double prefetch = 0.9 * static_cast<double>(hidden_size) * static_cast<double>(hidden_size);
      s.stage3_prefetch_bucket_size = static_cast<std::uint64_t>(prefetch);
      s.stage3_param_persistence_threshold = checked_mul(10, hidden_size);
    }
  }
  return s;
}

DeepSpeedConfig parse_deepspeed_config(const std::string& json_text, const std::string& origin,
                                       std::uint64_t hidden_size) {
  const json root = detail::parse_json_object(json_text, field::kDsConfig, origin,
                                             "expected a JSON object (a DeepSpeed ds_config.json)");

  DeepSpeedConfig out;
  out.origin = origin;
  Reader r(origin, hidden_size, out.warnings);

  for (const auto& [key, value] : root.items()) {
    if (!contains(known_top_level_keys(), key)) {
      r.unknown("", key, known_top_level_keys(), "not a DeepSpeed config key");
    } else if (const KeyKind* k = kind_of(kTopLevelKinds, key)) {
      check_kind(value, k->kind, key, r);
      if (key == "optimizer" || key == "scheduler") check_known(value, kTypedSectionKinds, key, r);
    }
  }

  if (const auto it = root.find("zero_optimization"); it != root.end()) out.zero = parse_zero(*it, r);

  out.bf16 = parse_precision_section(root, "bf16", r);
  if (!out.bf16) out.bf16 = parse_precision_section(root, "bfloat16", r);  // BFLOAT16_OLD
  out.fp16 = parse_precision_section(root, "fp16", r);
  if (out.bf16.value_or(false) && out.fp16.value_or(false)) {
    throw InputError(ds_config_field("bf16.enabled"), "true",
                     fmt::format("bf16 and fp16 cannot both be enabled (DeepSpeed rejects this) in {}", origin));
  }
  if (const auto it = root.find("torch_autocast"); it != root.end() && it->is_object()) {
    if (const auto en = it->find("enabled"); en != it->end() && en->is_boolean() && en->get<bool>()) {
      r.warn("torch_autocast.enabled = true: DeepSpeed's torch.autocast mode is not modeled");
    }
  }

  out.micro_batch = parse_batch_key(root, "train_micro_batch_size_per_gpu", r);
  out.grad_accum = parse_batch_key(root, "gradient_accumulation_steps", r);

  if (const auto it = root.find("data_types"); it != root.end() && !it->is_null()) {
    r.object(*it, "data_types");
    if (const auto g = it->find("grad_accum_dtype"); g != it->end() && !g->is_null() && !is_auto(*g)) {
      out.zero.grad_accum_dtype_fp32 = dtype_is_fp32(*g, "data_types.grad_accum_dtype", r);
    }
  }

  if (const auto it = root.find("communication_data_type"); it != root.end() && !it->is_null() && !is_auto(*it)) {
    const std::string name = detail::lower(r.text(*it, "communication_data_type"));
    if (name != "fp32" && name != "fp16" && name != "bf16") {
      throw InputError(ds_config_field("communication_data_type"), it->get<std::string>(),
                       fmt::format("expected fp32, fp16 or bf16 in {}", origin));
    }
    out.communication_data_type = name;
  }
  return out;
}

DeepSpeedConfig load_deepspeed_config(const std::string& path, std::uint64_t hidden_size) {
  return parse_deepspeed_config(detail::read_text_file(path, field::kDsConfig), path, hidden_size);
}

// ---------------------------------------------------------------------------------------------
// DeepSpeed's estimators. Python mixes int and float arithmetic; each expression below follows
// the same order of operations in double, with int() (truncation) exactly where the Python has
// it: on the int(18 * P / N) and int(2 * P / N) GPU terms and on the returned cpu/gpu values.

namespace {

void check_layout(std::uint64_t gpus_per_node, std::uint64_t num_nodes, double factor) {
  if (gpus_per_node == 0) throw InputError(field::kDsGpusPerNode, "0", "must be at least 1");
  if (num_nodes == 0) throw InputError(field::kDsNodes, "0", "must be at least 1");
  if (!std::isfinite(factor) || factor < 0.0) {
    throw InputError(field::kDsBufferFactor, fmt::format("{}", factor), "must be a non-negative number");
  }
}

// Python int(x) of a non-negative float, into 64 bits.
Bytes truncate(double x) {
  if (!(x >= 0.0) || x >= 18446744073709551616.0) {
    throw InputError(field::kSizes, fmt::format("{}", x), "DeepSpeed estimate does not fit in 64 bits");
  }
  return static_cast<Bytes>(x);
}

// int(k * total_params / total_gpus): Python true division of two ints, then truncation.
Bytes per_gpu_share(std::uint64_t k, std::uint64_t total_params, std::uint64_t total_gpus) {
  return truncate(static_cast<double>(checked_mul(k, total_params)) / static_cast<double>(total_gpus));
}

// total_params * max(int_term, float_term) * factor, where Python's max keeps the int when
// the float is not larger (then the int product is exact before it meets the float factor).
double times_max(std::uint64_t total_params, std::uint64_t int_term, double float_term, double factor) {
  if (float_term > static_cast<double>(int_term)) return static_cast<double>(total_params) * float_term * factor;
  return static_cast<double>(checked_mul(total_params, int_term)) * factor;
}

std::string zero3_options(bool offload_params, bool offload_optimizer, bool zero_init) {
  // f'{OffloadDeviceEnum.cpu:4}' printed "cpu " (padded to 4) on the Python the docs were made with.
  return fmt::format("offload_param={}, offload_optimizer={}, zero_init={}", offload_params ? "cpu " : "none",
                     offload_optimizer ? "cpu " : "none", zero_init ? 1 : 0);
}

}  // namespace

std::vector<DeepSpeedEstimateRow> deepspeed_zero3_model_states_estimate(std::uint64_t total_params,
                                                                        std::uint64_t largest_layer_params,
                                                                        std::uint64_t gpus_per_node,
                                                                        std::uint64_t num_nodes,
                                                                        double additional_buffer_factor) {
  check_layout(gpus_per_node, num_nodes, additional_buffer_factor);
  const std::uint64_t total_gpus = checked_mul(num_nodes, gpus_per_node);
  const double gpus_factor = 1.0 / static_cast<double>(num_nodes);
  const Bytes largest_layer_memory = checked_mul(4, largest_layer_params);
  const std::uint64_t four_n = checked_mul(4, gpus_per_node);
  const double f = additional_buffer_factor;

  std::vector<DeepSpeedEstimateRow> rows;
  for (const bool cpu_offload : {true, false}) {
    for (const bool cpu_offload_params : {true, false}) {
      if (!cpu_offload && cpu_offload_params) continue;
      for (const bool zero_init : {true, false}) {
        double cpu_mem = 0.0;
        Bytes gpu_mem = 0;
        if (cpu_offload && cpu_offload_params) {
          gpu_mem = largest_layer_memory;
          cpu_mem = zero_init ? static_cast<double>(checked_mul(total_params, 18)) * gpus_factor * f
                              : times_max(total_params, four_n, 18 * gpus_factor, f);
        } else if (cpu_offload) {
          gpu_mem = checked_add(largest_layer_memory, per_gpu_share(2, total_params, total_gpus));
          cpu_mem = zero_init ? static_cast<double>(checked_mul(total_params, 16)) * gpus_factor * f
                              : times_max(total_params, four_n, 16 * gpus_factor, f);
        } else {
          gpu_mem = checked_add(largest_layer_memory, per_gpu_share(18, total_params, total_gpus));
          cpu_mem = zero_init ? static_cast<double>(checked_product({largest_layer_params, 4, gpus_per_node})) * f
                              : static_cast<double>(checked_product({total_params, 4, gpus_per_node})) * f;
        }
        rows.push_back({truncate(cpu_mem), gpu_mem, zero3_options(cpu_offload_params, cpu_offload, zero_init)});
      }
    }
  }
  return rows;
}

std::vector<DeepSpeedEstimateRow> deepspeed_zero2_model_states_estimate(std::uint64_t total_params,
                                                                        std::uint64_t gpus_per_node,
                                                                        std::uint64_t num_nodes,
                                                                        double additional_buffer_factor) {
  check_layout(gpus_per_node, num_nodes, additional_buffer_factor);
  const std::uint64_t total_gpus = checked_mul(num_nodes, gpus_per_node);
  const double f = additional_buffer_factor;
  std::vector<DeepSpeedEstimateRow> rows;
  {
    // offload_optimizer=cpu: max(4 * total_gpus, 16) uses all GPUs, not the GPUs per node.
    const Bytes gpu_mem = checked_mul(2, total_params);
    const double cpu_mem =
        static_cast<double>(checked_mul(total_params, std::max<std::uint64_t>(checked_mul(4, total_gpus), 16))) * f;
    rows.push_back({truncate(cpu_mem), gpu_mem, "offload_optimizer=cpu"});
  }
  {
    const Bytes gpu_mem = checked_add(checked_mul(2, total_params), per_gpu_share(18, total_params, total_gpus));
    const double cpu_mem = static_cast<double>(checked_product({total_params, 4, gpus_per_node})) * f;
    rows.push_back({truncate(cpu_mem), gpu_mem, "offload_optimizer=none"});
  }
  return rows;
}

}  // namespace vramcalc
