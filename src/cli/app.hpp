#pragma once
// The command line: parse into CliOptions, call the library, render one result.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>

namespace CLI {
class App;
}

namespace vramcalc::cli {

enum class Format { kTable, kJson, kCsv, kMarkdown, kSvg, kHtml };
enum class ColorMode { kAuto, kAlways, kNever };

/// Everything the user asked for, as plain values (strings are validated by `to_inputs`).
struct CliOptions {
  std::string command = "estimate";  // estimate | fit | sweep | models | gpus | deepspeed-estimate
  std::string model;
  std::string seq = "2048";
  std::string batch;       // "" = from --deepspeed, else 1
  std::string grad_accum;  // "" = from --deepspeed, else 1
  std::string precision;   // "" = from --deepspeed (bf16/fp16 → mixed), else mixed
  std::string optimizer = "adamw";
  std::string attention = "sdpa";
  std::string grad_ckpt = "none";
  std::string loss;  // "" = full, or fused with --kernels liger
  std::string loss_chunks = "8";
  std::string mask = "causal";
  std::string fragmentation = "5";
  std::string zero;            // "" = from --deepspeed, else 0
  std::string gpus;            // "" = tp × cp × pp (1 without model parallelism)
  std::string gpus_per_node = "1";
  std::string offload_optimizer;  // "" = from --deepspeed, else none
  std::string offload_params;
  bool zero_init = false;         // --zero-init
  bool no_zero_init = false;      // --no-zero-init
  std::string load_dtype = "auto";
  std::string interconnect = "auto";
  std::string nccl_channels;
  std::string deepspeed;          // ds_config.json path
  std::string cpu_mem;
  std::string nodes = "1";        // deepspeed-estimate
  std::string gpu;
  std::string gpu_mem;
  std::string cuda_context;
  std::string format = "table";
  std::string units = "gib";
  std::string color = "auto";
  bool explain = false;
  std::string tp;              // "" = 1
  bool sp = false;
  std::string cp;
  std::string pp;
  std::string pp_schedule;     // "" = 1f1b
  std::string microbatches;    // "" = --grad-accum
  std::string virtual_stages;  // "" = 1
  std::string megatron_optimizer;  // "" = none
  std::string recipe;              // --recipe: a framework recipe (vramcalc/recipe.hpp)
  std::string fsdp;                   // --fsdp 2: PyTorch FSDP2 ("" = off)
  std::string reshard_after_forward;  // --reshard-after-forward true|false
  std::string param_dtype;            // --param-dtype bf16|fp32 (FSDP MixedPrecisionPolicy)
  std::string reduce_dtype;           // --reduce-dtype bf16|fp32
  std::vector<std::string> given;  // the long flags given on the command line ("--optimizer")
  std::string kernels = "hf";  // --kernels hf | liger
  bool fused_norm = false;     // --fused-norm
  bool fused_rope = false;     // --fused-rope
  bool fused_swiglu = false;   // --fused-swiglu
  bool optimizer_in_backward = false;  // --optimizer-in-backward
  std::string ac_every = "1";  // --ac-every K (with --grad-ckpt full)
  bool infer = false;                  // --infer
  std::string kv_dtype = "auto";       // --kv-dtype
  std::string lora_rank;           // --lora-rank: LoRA adapters on a frozen base (vramcalc/adapters.hpp)
  std::string lora_targets;        // --lora-targets
  std::string lora_dropout;        // --lora-dropout
  std::string lora_dtype;          // --lora-dtype
  std::string base_quant;          // --base-quant: quantized frozen base (vramcalc/quantization.hpp)
  bool no_double_quant = false;    // --no-double-quant
  std::string kbit_upcast;         // --kbit-upcast: prepare_model_for_kbit_training's fp32 upcast (true|false)
  bool dora = false;               // --dora: DoRA (LoraConfig use_dora)
  std::string head;                // --head: the task head (lm | mlm | seq-cls), vramcalc/model_head.hpp
  std::string num_labels;          // --num-labels: classes of --head seq-cls
  bool offload_activations = false;  // --offload-activations (torchtune activation offloading)
  std::string compile;             // --compile none|model|blocks ("" = none)
  std::string ep;                  // --ep: expert-parallel ranks ("" = 1)
  std::string moe_imbalance;       // --moe-imbalance: max/mean routed tokens per rank ("" = the default)
  std::string moe_capacity_factor; // --moe-capacity-factor: Megatron capacity factor ("" = dropless)
  bool moe_pad_to_capacity = false;  // --moe-pad-to-capacity
  std::string dp_replicate;        // --dp-replicate R: HSDP replica groups
  bool fsdp_offload = false;       // --fsdp-offload: FSDP2 CPUOffloadPolicy
  std::string hidden_dropout;      // --hidden-dropout P: residual-branch and embedding dropout ("" = 0)
  std::string fsdp_wrap;           // --fsdp-wrap blocks|none: FSDP1 auto-wrap ("" = blocks)
  std::string fp8;                 // --fp8 none|tensorwise|rowwise: torchao float8 training ("" = none)
  std::string fp8_all_gather;      // --fp8-all-gather on|off: FSDP2 float8 all-gather ("" = off)
  std::string fp8_amax_history;    // --fp8-amax-history-len N: TE DelayedScaling history ("" = 1)
  bool fp8_param_gather = false;   // --fp8-param-gather: TE Linear weights kept in fp8 (Megatron)
  bool tp_comm_overlap = false;    // --tp-comm-overlap: TE userbuffers overlap (Megatron)
  std::string target_seq;          // --target-seq N: decoder length of an encoder-decoder ("" = none)
  std::string dropout;             // --dropout P: the model's dropout, overriding a T5 config's dropout_rate ("" = the config's)
};

/// How output is to be presented (not part of the estimate).
struct OutputOptions {
  Format format = Format::kTable;
  SizeUnits units = SizeUnits::kBinary;
  bool color = false;
  bool unicode = false;  // block characters in bars: only on a terminal, never with NO_COLOR
  bool explain = false;
};

/// The flag that sets a core field id ("training.seq_len" → "--seq"); ids without a flag
/// (config.json and ds_config.json keys) as the core labels them.
std::string flag_for(const std::string& field_id);
/// The error line (without the "vramcalc: error: " prefix) for an InputError, in flag terms.
std::string error_line(const InputError& e);
/// Parses a positive integer count ("8192") up to `max`; InputError naming `field` otherwise.
std::uint64_t parse_count(const std::string& text, const char* field, std::uint64_t max = 1ULL << 40);
/// Parses a size with an explicit unit ("40GiB", "39.5 GiB", "40GB", "512MiB"): a plain
/// decimal, a whole number of bytes, from 1 B to 1 PiB.
Bytes parse_size(const std::string& text, const char* field);
/// Validates the options and builds the library's inputs; notes from a --deepspeed file
/// (unknown keys, ignored settings) are appended to `warnings`.
EstimateInputs to_inputs(const CliOptions& options, std::vector<std::string>& warnings);
/// estimate(), with a 64-bit overflow blamed on the input that drives it (--model, --seq).
Estimate estimate_naming_inputs(const EstimateInputs& inputs, const CliOptions& options);

/// Reads --tp, --sp, --cp, --pp, --pp-schedule, --microbatches and --virtual-stages into
/// `in.layout`; --gpus defaults to tp × cp × pp (src/cli/model_parallel_flags.cpp).
void add_model_parallel_flags(CLI::App& app, CliOptions& o);
void apply_model_parallel_flags(const CliOptions& o, EstimateInputs& in);
/// --ep and the expert routing flags (src/cli/moe_flags.cpp).
void add_moe_flags(CLI::App& app, CliOptions& o);
void apply_moe_flags(const CliOptions& o, EstimateInputs& in);

/// The whole program: returns the exit status. Data goes to `out`, diagnostics to `err`.
int run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace vramcalc::cli
