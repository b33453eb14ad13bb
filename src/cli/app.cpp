#include "cli/app.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/exit_codes.hpp"
#include "cli/plan_command.hpp"
#include "cli/render.hpp"
#include "cli/terminal.hpp"
#include <vramcalc/vramcalc.hpp>

namespace vramcalc::cli {
namespace {

bool is_command(const std::string& word) {
  for (const char* c : {"estimate", "fit", "sweep", "models", "gpus", "deepspeed-estimate", "recipes"}) {
    if (word == c) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& names) { return fmt::format("{}", fmt::join(names, "|")); }

Format parse_format(const std::string& text) {
  if (text == "table") return Format::kTable;
  if (text == "json") return Format::kJson;
  if (text == "csv") return Format::kCsv;
  if (text == "markdown" || text == "md") return Format::kMarkdown;
  if (text == "svg") return Format::kSvg;
  if (text == "html") return Format::kHtml;
  throw InputError("--format", text, "expected one of table, json, csv, markdown, svg, html");
}

SizeUnits parse_units(const std::string& text) {
  if (text == "gib") return SizeUnits::kBinary;
  if (text == "gb") return SizeUnits::kDecimal;
  throw InputError("--units", text, "expected gib (2^30 bytes) or gb (10^9 bytes)");
}

ColorMode parse_color(const std::string& text) {
  if (text == "auto") return ColorMode::kAuto;
  if (text == "always") return ColorMode::kAlways;
  if (text == "never") return ColorMode::kNever;
  throw InputError("--color", text, "expected auto, always or never");
}

// A plain decimal "12" or "12.5" (no sign, exponent, hex, inf or spaces): its digits without
// the point, and how many of them follow it. False for anything else.
bool plain_decimal(const std::string& text, std::string& digits, std::size_t& decimals) {
  digits.clear();
  decimals = 0;
  bool point = false;
  for (char c : text) {
    if (c == '.' && !point) {
      point = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
      if (point) ++decimals;
    } else {
      return false;
    }
  }
  if (digits.empty() || text.front() == '.' || text.back() == '.') return false;
  return true;
}

double parse_percent(const std::string& text, const char* field) {
  std::string digits;
  std::size_t decimals = 0;
  const double v = plain_decimal(text, digits, decimals) && digits.size() <= 18 ? std::strtod(text.c_str(), nullptr) : -1.0;
  if (!(v >= 0.0 && v <= 100.0)) throw InputError(field, text, "expected a percentage from 0 to 100, e.g. 5 or 7.5");
  return v / 100.0;
}

// Upper bounds of counts: far beyond any real job, and low enough that the products formed
// from them stay exact in 64 bits for real models.
constexpr std::uint64_t kMaxSeq = 1ULL << 24;        // 16,777,216 tokens
constexpr std::uint64_t kMaxBatch = 1ULL << 16;
constexpr std::uint64_t kMaxSteps = 1ULL << 20;      // grad-accum, loss chunks
constexpr std::uint64_t kMaxGpus = 1ULL << 20;       // 1,048,576 ranks
constexpr std::uint64_t kMaxGpusPerNode = 1024;
constexpr std::uint64_t kMaxNodes = 1ULL << 20;
constexpr Bytes kMaxSize = 1ULL << 50;               // 1 PiB

// Charts are drawn from a sweep's rows; a plan is a table or JSON.
void check_format(const CliOptions& o, Format f) {
  const bool chart = f == Format::kSvg || f == Format::kHtml;
  if (chart && o.command != "sweep") throw InputError("--format", o.format, "svg and html charts are drawn by `vramcalc sweep`");
  if (o.command == "fit" && f != Format::kTable && f != Format::kJson) throw InputError("--format", o.format, "fit prints table or json");
  if (o.command == "sweep" && f == Format::kMarkdown) throw InputError("--format", o.format, "sweep prints table, json, csv, svg or html");
}

OutputOptions output_options(const CliOptions& o) {
  OutputOptions out;
  out.format = parse_format(o.format);
  out.units = parse_units(o.units);
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  const bool tty = isatty(STDOUT_FILENO) != 0;
  out.color = use_color(parse_color(o.color), tty, no_color, term);
  out.unicode = use_unicode(tty, no_color);
  out.explain = o.explain;
  return out;
}

void add_output_flags(CLI::App& app, CliOptions& o) {
  const std::string formats = o.command == "sweep" ? "table|json|csv|svg|html" : o.command == "fit" ? "table|json" : "table|json|csv|markdown";
  app.add_option("--format", o.format, "Output format: " + formats + " (default table)");
  app.add_option("--units", o.units, "Size units in table/markdown: gib (2^30 B) | gb (10^9 B)");
  app.add_option("--color", o.color, "Colour: auto|always|never (auto: only on a terminal, never with NO_COLOR)");
}

// The flags of an estimate; fit and sweep take them all.
void add_estimate_flags(CLI::App& app, CliOptions& o) {
  app.add_option("-m,--model", o.model, "Built-in model name or alias (see `vramcalc models`), or path to an HF config.json");
  app.add_option("-s,--seq", o.seq, "Sequence length in tokens (default 2048)");
  app.add_option("-b,--batch", o.batch, "Micro-batch size per GPU (default 1)");
  app.add_option("--grad-accum", o.grad_accum, "Gradient-accumulation steps (default 1)");
  app.add_option("--precision", o.precision, "Precision regime: " + join(precision_names()) + " (default mixed)");
  app.add_option("--optimizer", o.optimizer, "Optimizer: " + join(optimizer_names()) + " (default adamw)");
  app.add_option("--attention", o.attention, "Attention kernel: " + join(attention_names()) + " (default sdpa)");
  app.add_option("--grad-ckpt", o.grad_ckpt, "Activation checkpointing: " + join(grad_ckpt_names()) + " (default none)");
  app.add_option("--loss", o.loss, "Loss implementation: " + join(loss_names()) + " (default full; fused with --kernels liger)");
  app.add_option("--mask", o.mask, "Attention mask: causal (no padding) | explicit (padding or packed documents)");
  app.add_option("--loss-chunks", o.loss_chunks, "Chunks for --loss chunked (default 8)");
  app.add_option("--gpu", o.gpu, "GPU from the catalog (see `vramcalc gpus`); gives a fits / exceeds verdict");
  app.add_option("--gpu-mem", o.gpu_mem, "Memory budget per GPU, e.g. 40GiB or 80GB; overrides --gpu's capacity");
  app.add_option("--cuda-context", o.cuda_context, "Non-PyTorch memory per GPU (CUDA context), e.g. 600MiB");
  app.add_option("--fragmentation", o.fragmentation, "Allocator reserve as % of the allocated peak (default 5)");
  app.add_flag("--explain", o.explain, "Table: print each term's source and the per-layer activation derivation");
  app.add_option("--zero", o.zero, "DeepSpeed ZeRO stage 0|1|2|3 (default 0, or the --deepspeed file's)");
  app.add_option("--gpus", o.gpus, "Ranks in total: data-parallel × tp × cp × pp (default tp × cp × pp, 1 without them)");
  app.add_option("--gpus-per-node", o.gpus_per_node, "GPUs per host (default 1: one GPU per pod); --gpus above it must be a multiple of it");
  app.add_option("--offload-optimizer", o.offload_optimizer, "ZeRO-Offload of optimizer states: none|cpu|nvme");
  app.add_option("--offload-params", o.offload_params, "ZeRO-3 parameter offload: none|cpu|nvme");
  app.add_flag("--zero-init", o.zero_init, "Create the model under deepspeed.zero.Init (default with ZeRO-3, as Accelerate's zero3_init_flag)");
  app.add_flag("--no-zero-init", o.no_zero_init, "from_pretrained without zero.Init: every rank loads the whole model");
  app.add_option("--load-dtype", o.load_dtype, "from_pretrained dtype: auto (checkpoint torch_dtype)|fp32|bf16|fp16; transformers v4 loads fp32 unless told");
  app.add_option("--interconnect", o.interconnect, "Between ranks: auto|nvlink|pcie|ib|efa (NCCL buffers)");
  app.add_option("--nccl-channels", o.nccl_channels, "NCCL channels per communicator (default by interconnect)");
  app.add_option("--cpu-mem", o.cpu_mem, "Host RAM per node, e.g. 256GiB; gives a CPU verdict");
  app.add_option("--deepspeed", o.deepspeed, "A ds_config.json: ZeRO stage, offload, buckets, bf16, micro-batch (flags override it)");
  add_model_parallel_flags(app, o);
  add_moe_flags(app, o);
  app.add_option("--recipe", o.recipe,
                 "A framework's defaults: peft|torchtune|litgpt|hf-trainer|torchtitan|megatron|accelerate-fsdp|deepspeed|lightning "
                 "(see `vramcalc recipes`); flags you give override its knobs");
  app.add_option("--kernels", o.kernels, "Kernel set: hf (eager modules) | liger (fused RMSNorm, RoPE, SwiGLU and --loss fused)");
  app.add_flag("--fused-norm", o.fused_norm, "Liger's fused RMSNorm / LayerNorm (saves the input and per-row rstd)");
  app.add_flag("--fused-rope", o.fused_rope, "Liger's in-place RoPE (saves cos/sin only)");
  app.add_flag("--fused-swiglu", o.fused_swiglu, "Liger's fused SiLU·mul (saves gate and up, recomputes the activation)");
  app.add_flag("--optimizer-in-backward", o.optimizer_in_backward,
                "Step each parameter in its gradient hook, freeing the gradient at once (torchtune optimizer_in_bwd)");
  app.add_option("--ac-every", o.ac_every, "With --grad-ckpt full: checkpoint every K-th layer only (torchtitan/torchtune frequency AC; default 1)");
  app.add_flag("--infer", o.infer, "Inference instead of training: weights, KV cache for --seq tokens × --batch, prefill and decode");
  app.add_option("--kv-dtype", o.kv_dtype, "KV-cache element type with --infer: auto (the weights')|bf16|fp16|fp32|fp8");
  app.add_option("--lora-rank", o.lora_rank, "LoRA rank r: adapters on a frozen base (default 0: full fine-tuning)");
  app.add_option("--lora-targets", o.lora_targets, "LoRA targets: q,k,v,o,gate,up,down | attention | mlp | all-linear (default q,v: PEFT's)");
  app.add_option("--lora-dropout", o.lora_dropout, "LoRA dropout probability (default 0)");
  app.add_option("--lora-dtype", o.lora_dtype, "LoRA adapter dtype: fp32 (PEFT's default) | bf16");
  app.add_option("--base-quant", o.base_quant, "Quantized frozen base (QLoRA, bitsandbytes): none|nf4|fp4|int8 (decoder Linears; lm_head stays)");
  app.add_flag("--no-double-quant", o.no_double_quant, "4-bit base without double quantization of the absmax (bnb_4bit_use_double_quant=False)");
  app.add_option("--fsdp", o.fsdp, "PyTorch FSDP over the data-parallel ranks: 2 (fully_shard per decoder block + root) or 1 (FullyShardedDataParallel, "
                 "a FlatParameter per block + root); not with --zero");
  app.add_option("--reshard-after-forward", o.reshard_after_forward, "FSDP2 blocks free their gathered parameters after forward: true|false (default true; FSDP1: FULL_SHARD | false = SHARD_GRAD_OP)");
  app.add_option("--param-dtype", o.param_dtype, "FSDP MixedPrecisionPolicy param_dtype: bf16|fp32 (default: bf16 for mixed/bf16, else fp32)");
  app.add_option("--reduce-dtype", o.reduce_dtype, "FSDP MixedPrecisionPolicy reduce_dtype: bf16|fp32 (default: fp32 for mixed, else the param dtype)");
  app.add_option("--kbit-upcast", o.kbit_upcast,
                 "With --base-quant: PEFT's prepare_model_for_kbit_training casts the unquantized base (embeddings, norms, lm_head) to fp32: "
                 "true (default) | false");
  app.add_flag("--dora", o.dora, "DoRA (LoraConfig use_dora=True): a trainable magnitude per output row and the weight norm in every forward");
  app.add_option("--head", o.head, "Task head: lm (the family's; mlm for bert/roberta) | seq-cls (bert/roberta sequence classification; default: the config's architectures)");
  app.add_option("--num-labels", o.num_labels, "Classes of --head seq-cls (default: the config's id2label / num_labels, else 2)");
  app.add_flag("--offload-activations", o.offload_activations,
               "Saved activations in pinned host memory (torchtune enable_activation_offloading): GPU keeps tensors < 1 KiB, lm_head's input, the copy stash");
  app.add_option("--compile", o.compile,
                 "torch.compile: none | model (the whole model and its loss, one graph) | blocks (each decoder block and the loss "
                 "compiled apart: torchtune, torchtitan) | blocks-eager-loss (each block compiled, the loss eager: torchtitan 9dec370); "
                 "the min-cut partitioner decides what is saved");
  app.add_option("--dp-replicate", o.dp_replicate,
                 "HSDP with --fsdp 2: R replica groups of a (replicate, shard) mesh; states shard over data-parallel/R ranks (default 1)");
  app.add_flag("--fsdp-offload", o.fsdp_offload,
               "FSDP2 CPUOffloadPolicy: sharded params, grads and optimizer states in pinned host RAM, the step on the CPU");
  app.add_option("--hidden-dropout", o.hidden_dropout,
                 "Dropout probability on the residual branches and the embedding (Megatron hidden_dropout; default 0, 0.1 with "
                 "--recipe megatron): a bool mask saved per dropout");
  app.add_option("--fsdp-wrap", o.fsdp_wrap,
                 "FSDP1 auto-wrap: blocks (a FlatParameter per decoder block + root; default) | none (no auto_wrap_policy: the whole "
                 "model is the root's one FlatParameter, Lightning's FSDPStrategy default)");
  app.add_option("--fp8", o.fp8,
                 "torchao float8 training of every Linear with dims multiple of 16: none | tensorwise | rowwise; saves what "
                 "F.linear saves, adds the fp8 casts of the Linear in flight (delayed scaling: removed from torchao); with Megatron "
                 "(--recipe megatron, --megatron-optimizer): Transformer Engine, tensorwise = Float8CurrentScaling | delayed = DelayedScaling");
  app.add_option("--fp8-amax-history-len", o.fp8_amax_history,
                 "Transformer Engine DelayedScaling amax history length (Megatron --fp8-amax-history-len; default 1; only with "
                 "--fp8 delayed under Megatron)");
  app.add_flag("--fp8-param-gather", o.fp8_param_gather,
               "Megatron --fp8-param-gather: Transformer Engine's Linear weights kept in fp8 (1 B + a cached transpose) in the "
               "distributed optimizer's param buffer, no bf16 copy; with --fp8 under --megatron-optimizer distributed");
  app.add_flag("--tp-comm-overlap", o.tp_comm_overlap,
               "Megatron --tp-comm-overlap: Transformer Engine's userbuffers GEMM/communication overlap (adds their 3-stream cuBLAS "
               "workspace; the userbuffers are outside PyTorch's allocator); with --tp > 1, --sp under Megatron");
  app.add_option("--fp8-all-gather", o.fp8_all_gather,
                 "on | off (default): with --fsdp 2 --fp8 tensorwise, torchao's enable_fsdp_float8_all_gather: each Float8Linear "
                 "weight is cast to fp8 before FSDP2's all-gather (1 B/param gathered, no weight cast in the matmul)");
  app.add_option("--target-seq", o.target_seq,
                 "Decoder length (tokens of the labels) of an encoder-decoder (t5, mt5, umt5; --seq is the encoder's): required for "
                 "them, an error for any other model");
  app.add_option("--dropout", o.dropout,
                 "The model's dropout probability in training, overriding a T5 config's dropout_rate (t5, mt5, umt5; 0 = off; "
                 "default: the config's, 0.1 in the released configs): bool masks and dropout outputs saved per block");
}

// The flag that sets each core field id; the core never names a flag.
struct FlagName {
  const char* id;
  const char* flag;
};
constexpr FlagName kFlags[] = {
    {field::kModel, "--model"},
    {field::kDsConfig, "--deepspeed"},
    {field::kSeqLen, "--seq"},
    {field::kMicroBatch, "--batch"},
    {field::kGradAccum, "--grad-accum"},
    {field::kPrecision, "--precision"},
    {field::kOptimizer, "--optimizer"},
    {field::kAttention, "--attention"},
    {field::kGradCkpt, "--grad-ckpt"},
    {field::kLoss, "--loss"},
    {field::kLossChunks, "--loss-chunks"},
    {field::kFragmentation, "--fragmentation"},
    {field::kGpu, "--gpu"},
    {field::kMemoryBudget, "--gpu-mem"},
    {field::kCudaContext, "--cuda-context"},
    {field::kCpuMemoryBudget, "--cpu-mem"},
    {field::kGpus, "--gpus"},
    {field::kGpusPerNode, "--gpus-per-node"},
    {field::kZeroStage, "--zero"},
    {field::kOffloadOptimizer, "--offload-optimizer"},
    {field::kOffloadParam, "--offload-params"},
    {field::kZeroInit, "--zero-init"},
    {field::kInterconnect, "--interconnect"},
    {field::kNcclChannels, "--nccl-channels"},
    {field::kDsNodes, "--nodes"},
    {field::kDsGpusPerNode, "--gpus-per-node"},
    {field::kTp, "--tp"},
    {field::kSp, "--sp"},
    {field::kCp, "--cp"},
    {field::kPp, "--pp"},
    {field::kPpSchedule, "--pp-schedule"},
    {field::kMicrobatches, "--microbatches"},
    {field::kVirtualStages, "--virtual-stages"},
    {field::kMegatron, "--megatron-optimizer"},
    {field::kRecipe, "--recipe"},
    {field::kKernels, "--kernels"},
    {field::kFusedNorm, "--fused-norm"},
    {field::kFusedRope, "--fused-rope"},
    {field::kFusedSwiglu, "--fused-swiglu"},
    {field::kOptimizerInBackward, "--optimizer-in-backward"},
    {field::kAcEvery, "--ac-every"},
    {field::kInfer, "--infer"},
    {field::kKvDtype, "--kv-dtype"},
    {field::kLoraRank, "--lora-rank"},
    {field::kLoraTargets, "--lora-targets"},
    {field::kLoraDropout, "--lora-dropout"},
    {field::kLoraDtype, "--lora-dtype"},
    {field::kBaseQuant, "--base-quant"},
    {field::kDoubleQuant, "--no-double-quant"},
    {field::kFsdp, "--fsdp"},
    {field::kReshardAfterForward, "--reshard-after-forward"},
    {field::kParamDtype, "--param-dtype"},
    {field::kReduceDtype, "--reduce-dtype"},
    {field::kKbitUpcast, "--kbit-upcast"},
    {field::kLoraDora, "--dora"},
    {field::kHead, "--head"},
    {field::kNumLabels, "--num-labels"},
    {field::kOffloadActivations, "--offload-activations"},
    {field::kCompile, "--compile"},
    {field::kEp, "--ep"},
    {field::kMoeImbalance, "--moe-imbalance"},
    {field::kMoeCapacityFactor, "--moe-capacity-factor"},
    {field::kMoePadToCapacity, "--moe-pad-to-capacity"},
    {field::kDpReplicate, "--dp-replicate"},
    {field::kFsdpOffload, "--fsdp-offload"},
    {field::kHiddenDropout, "--hidden-dropout"},
    {field::kFsdpWrap, "--fsdp-wrap"},
    {field::kFp8, "--fp8"},
    {field::kFp8AllGather, "--fp8-all-gather"},
    {field::kFp8AmaxHistory, "--fp8-amax-history-len"},
    {field::kFp8ParamGather, "--fp8-param-gather"},
    {field::kTpCommOverlap, "--tp-comm-overlap"},
    {field::kTargetSeq, "--target-seq"},
    {field::kDropout, "--dropout"},
};

// What the CLI adds to a core message: where to look next, in command-line terms.
std::string cli_hint(const InputError& e) {
  const std::string& id = e.field();
  const std::string& problem = e.problem();
  if (id == field::kGpu) return " See `vramcalc gpus`, or give --gpu-mem SIZE.";
  if (id == field::kModel && (problem.starts_with("unknown model") || problem.starts_with("cannot open"))) {
    return " See `vramcalc models`.";
  }
  if (id == field::kOffloadParam) return " (--zero 3)";
  return "";
}

// The field ids the user set: by a flag on the command line, or by the --deepspeed file.
std::vector<std::string> user_fields(const CliOptions& o, const std::optional<DeepSpeedConfig>& ds) {
  std::vector<std::string> ids;
  for (const auto& f : kFlags) {
    if (std::find(o.given.begin(), o.given.end(), f.flag) != o.given.end()) ids.emplace_back(f.id);
  }
  if (ds) {
    for (const char* id : {field::kZeroStage, field::kOffloadOptimizer, field::kOffloadParam, field::kZeroInit}) ids.emplace_back(id);
    for (const char* id : {field::kReduceBucketSize, field::kPrefetchBucketSize, field::kParamPersistenceThreshold,
                           field::kMaxLiveParameters, field::kContiguousGradients}) {
      ids.emplace_back(id);  // the ds_config's values (DeepSpeed's defaults where absent) win over a recipe's
    }
    if (ds->bf16 || ds->fp16) ids.emplace_back(field::kPrecision);
    if (ds->micro_batch) ids.emplace_back(field::kMicroBatch);
    if (ds->grad_accum) ids.emplace_back(field::kGradAccum);
  }
  return ids;
}

}  // namespace

std::string flag_for(const std::string& field_id) {
  for (const auto& f : kFlags) {
    if (field_id == f.id) return f.flag;
  }
  return std::string(field_label(field_id));
}

std::string error_line(const InputError& e) {
  std::string problem = e.problem();
  std::string hint = cli_hint(e);
  if (hint.starts_with(" See") && !problem.empty() && problem.back() != '?' && problem.back() != '.') problem += '.';
  return describe_input_error(flag_for(e.field()), e.value(), problem + hint);
}

std::uint64_t parse_count(const std::string& text, const char* field, std::uint64_t max) {
  if (text.empty()) throw InputError(field, text, "expected a positive integer");
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) throw InputError(field, text, "expected a positive integer");
  }
  const std::size_t first = std::min(text.find_first_not_of('0'), text.size());
  const std::uint64_t v = text.size() - first > 19 ? ~0ULL : std::stoull(text);
  if (v == 0) throw InputError(field, text, "must be a positive integer");
  if (v > max) throw InputError(field, text, fmt::format("larger than the largest supported value {}", group_digits(max)));
  return v;
}

Bytes parse_size(const std::string& text, const char* field) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number = text.substr(0, i);
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  struct Unit {
    const char* name;
    Bytes bytes;
  };
  static const Unit kUnits[] = {{"b", 1},        {"kib", kKiB},      {"mib", kMiB},           {"gib", kGiB},
                                {"tib", 1ULL << 40}, {"kb", 1000},   {"mb", 1000 * 1000}, {"gb", kGB},
                                {"tb", 1000 * kGB}};
  std::string digits;
  std::size_t decimals = 0;
  if (!plain_decimal(number, digits, decimals) || digits.size() > 30) {
    throw InputError(field, text, "expected a size such as 40GiB, 39.5GiB or 80GB");
  }
  for (const auto& u : kUnits) {
    if (unit != u.name) continue;
    // Exact: digits × unit / 10^decimals, in 128 bits (at most 30 digits and a 2^40 unit).
    __extension__ using U128 = unsigned __int128;
    U128 scaled = 0;
    for (char c : digits) scaled = scaled * 10 + static_cast<unsigned>(c - '0');
    U128 divisor = 1;
    for (std::size_t k = 0; k < decimals; ++k) divisor *= 10;
    const bool huge = scaled > (~U128{0}) / u.bytes;
    const U128 numerator = huge ? 0 : scaled * u.bytes;
    if (huge || numerator / divisor > kMaxSize) {
      throw InputError(field, text, fmt::format("larger than the largest supported size {} (1 PiB)", group_digits(kMaxSize)));
    }
    if (numerator % divisor != 0) throw InputError(field, text, "not a whole number of bytes");
    if (numerator == 0) throw InputError(field, text, "must be larger than 0 bytes");
    return static_cast<Bytes>(numerator / divisor);
  }
  throw InputError(field, text, "give a unit: B, KiB, MiB, GiB, TiB (powers of 2) or KB, MB, GB, TB (powers of 10)");
}

namespace {

// The LoRA flags, through the core's field setter (change.cpp).
void apply_lora_flags(const CliOptions& o, EstimateInputs& in) {
  const std::pair<const char*, const std::string*> flags[] = {{field::kLoraRank, &o.lora_rank},
                                                              {field::kLoraTargets, &o.lora_targets},
                                                              {field::kLoraDropout, &o.lora_dropout},
                                                              {field::kLoraDtype, &o.lora_dtype},
                                                              {field::kBaseQuant, &o.base_quant},
                                                              {field::kKbitUpcast, &o.kbit_upcast}};
  for (const auto& [id, value] : flags) {
    if (!value->empty()) apply_change(in, {id, *value});
  }
  if (o.no_double_quant) apply_change(in, {field::kDoubleQuant, "false"});
  if (o.dora) apply_change(in, {field::kLoraDora, "true"});
  if (!o.compile.empty()) apply_change(in, {field::kCompile, o.compile});
  if (!o.kbit_upcast.empty() && o.base_quant.empty() && o.recipe.empty()) {
    throw InputError(field::kKbitUpcast, o.kbit_upcast, "prepare_model_for_kbit_training only runs on a quantized base: give --base-quant");
  }
  // A recipe may set the rank (--recipe peft); its knobs apply after the flags.
  if (o.recipe.empty() && !in.setup.lora.enabled() && (!o.lora_targets.empty() || !o.lora_dropout.empty() || !o.lora_dtype.empty() || o.dora)) {
    throw InputError(field::kLoraRank, o.lora_rank.empty() ? "0" : o.lora_rank, "the other --lora-* flags need a LoRA rank");
  }
}

}  // namespace

EstimateInputs to_inputs(const CliOptions& o, std::vector<std::string>& warnings) {
  EstimateInputs in;
  if (o.model.empty()) throw InputError("--model", "", "required: a built-in name (see `vramcalc models`) or a config.json path");
  in.model = resolve_model(o.model);
  // A DeepSpeed config sets the defaults; flags given on the command line override it.
  std::optional<DeepSpeedConfig> ds;
  if (!o.deepspeed.empty()) {
    ds = load_deepspeed_config(o.deepspeed, in.model.hidden_size);
    for (const auto& w : ds->warnings) warnings.push_back(fmt::format("{}: {}", o.deepspeed, w));
  }
  in.setup.seq_len = parse_count(o.seq, "--seq", kMaxSeq);
  in.setup.micro_batch = !o.batch.empty() ? parse_count(o.batch, "--batch", kMaxBatch)
                                          : (ds && ds->micro_batch ? *ds->micro_batch : 1);
  in.setup.grad_accum = !o.grad_accum.empty() ? parse_count(o.grad_accum, "--grad-accum", kMaxSteps)
                                              : (ds && ds->grad_accum ? *ds->grad_accum : 1);
  if (!o.precision.empty()) {
    in.setup.precision = parse_precision(o.precision);
  } else if (ds && (ds->bf16.value_or(false) || ds->fp16.value_or(false))) {
    in.setup.precision = Precision::kMixed;  // DeepSpeed's bf16/fp16 engine: 16-bit params, fp32 master
  } else if (ds && ds->bf16.has_value() && ds->fp16.has_value()) {
    in.setup.precision = Precision::kFp32;  // both explicitly disabled
  } else {
    in.setup.precision = Precision::kMixed;
  }
  in.setup.optimizer = parse_optimizer(o.optimizer);
  in.setup.attention = parse_attention(o.attention);
  in.setup.grad_ckpt = parse_grad_ckpt(o.grad_ckpt);
  const KernelPreset preset = parse_kernel_preset(o.kernels);
  in.setup.kernels = kernel_set_of(preset);
  in.setup.kernels.fused_norm = in.setup.kernels.fused_norm || o.fused_norm;
  in.setup.kernels.fused_rope = in.setup.kernels.fused_rope || o.fused_rope;
  in.setup.kernels.fused_swiglu = in.setup.kernels.fused_swiglu || o.fused_swiglu;
  // Liger's model patches turn on fused_linear_cross_entropy with the other kernels.
  in.setup.loss = parse_loss(!o.loss.empty() ? o.loss : preset == KernelPreset::kLiger ? "fused" : "full");
  in.setup.loss_chunks = parse_count(o.loss_chunks, "--loss-chunks", kMaxSteps);
  in.setup.ac_every = parse_count(o.ac_every, "--ac-every", kMaxSteps);
  if (o.mask != "causal" && o.mask != "explicit") {
    throw InputError("--mask", o.mask, "expected causal (no padding: SDPA is_causal) or explicit (padding or packed-document mask)");
  }
  in.setup.explicit_mask = o.mask == "explicit";
  in.setup.fragmentation = parse_percent(o.fragmentation, "--fragmentation");
  in.setup.optimizer_in_backward = o.optimizer_in_backward;
  in.setup.infer = o.infer;
  in.setup.kv_bytes = parse_kv_dtype(o.kv_dtype);
  if (o.offload_activations) in.setup.offload_activations = true;
  if (!o.gpu.empty()) in.gpu = find_gpu(o.gpu);
  if (!o.gpu_mem.empty()) in.memory_budget = parse_size(o.gpu_mem, "--gpu-mem");
  if (!o.cuda_context.empty()) in.cuda_context_bytes = parse_size(o.cuda_context, "--cuda-context");
  if (!o.cpu_mem.empty()) in.cpu_memory_budget = parse_size(o.cpu_mem, "--cpu-mem");

  // Layout: --zero picks DeepSpeed's settings with HF/Accelerate "auto" buckets unless a
  // --deepspeed file gives them.
  in.layout.gpus = o.gpus.empty() ? 1 : parse_count(o.gpus, "--gpus", kMaxGpus);
  in.layout.gpus_per_node = parse_count(o.gpus_per_node, "--gpus-per-node", kMaxGpusPerNode);
  apply_model_parallel_flags(o, in);
  apply_moe_flags(o, in);
  // A job smaller than a node uses part of one node; a larger one fills whole nodes.
  if (in.layout.gpus > in.layout.gpus_per_node && in.layout.gpus % in.layout.gpus_per_node != 0) {
    throw InputError("--gpus", o.gpus,
                     fmt::format("must be a multiple of --gpus-per-node {} when the job spans several nodes",
                                 in.layout.gpus_per_node));
  }
  if (ds) in.layout.zero = ds->zero;
  if (!o.zero.empty()) {
    if (o.zero.size() != 1 || o.zero[0] < '0' || o.zero[0] > '3') throw InputError("--zero", o.zero, "expected 0, 1, 2 or 3");
    const int stage = o.zero[0] - '0';
    if (ds && stage != ds->zero.stage) {
      // The file's offload settings go with its stage; name the file's key, not a flag never typed.
      const ZeroSettings& f = ds->zero;
      const auto conflict = [&](const std::string& key, const std::string& value, const char* needs) {
        throw InputError("--zero", o.zero,
                         fmt::format("{} sets {} = {}, which {}; change the file or give --zero {}", o.deepspeed, key,
                                     value, needs, f.stage));
      };
      if (f.offload_param.device != OffloadDevice::kNone && stage != 3 && o.offload_params.empty()) {
        conflict("zero_optimization.offload_param.device", to_string(f.offload_param.device), "needs ZeRO stage 3");
      }
      if (f.offload_optimizer.device != OffloadDevice::kNone && stage == 0 && o.offload_optimizer.empty()) {
        conflict("zero_optimization.offload_optimizer.device", to_string(f.offload_optimizer.device),
                 "needs ZeRO stage 1, 2 or 3");
      }
      if (f.offload_optimizer.ratio < 1.0 && stage != 3) {
        conflict("zero_optimization.offload_optimizer.ratio", fmt::format("{}", f.offload_optimizer.ratio),
                 "needs ZeRO stage 3 (partial offload)");
      }
    }
    if (!ds) {
      in.layout.zero = default_zero_settings(stage, in.model.hidden_size, true);
    } else if (stage != in.layout.zero.stage) {
      ZeroSettings z = default_zero_settings(stage, in.model.hidden_size, true);
      z.offload_optimizer = in.layout.zero.offload_optimizer;
      z.offload_param = in.layout.zero.offload_param;
      in.layout.zero = z;
    }
  }
  if (!o.offload_optimizer.empty()) in.layout.zero.offload_optimizer.device = parse_offload_device(o.offload_optimizer, "--offload-optimizer");
  if (!o.offload_params.empty()) in.layout.zero.offload_param.device = parse_offload_device(o.offload_params, "--offload-params");
  if (o.zero_init && o.no_zero_init) throw InputError("--zero-init", "--no-zero-init", "give one of the two");
  if (o.zero_init) in.layout.zero.zero3_init = true;
  if (o.no_zero_init) in.layout.zero.zero3_init = false;
  in.layout.interconnect = parse_interconnect(o.interconnect);
  if (!o.nccl_channels.empty()) in.layout.nccl_channels = parse_count(o.nccl_channels, "--nccl-channels", kMaxNcclChannels);
  if (o.load_dtype == "fp32") {
    in.load.dtype_bytes = 4;
  } else if (o.load_dtype == "bf16" || o.load_dtype == "fp16") {
    in.load.dtype_bytes = 2;
  } else if (o.load_dtype != "auto") {
    throw InputError("--load-dtype", o.load_dtype, "expected auto (the checkpoint's torch_dtype), fp32, bf16 or fp16");
  }
  apply_lora_flags(o, in);
  if (!o.head.empty()) apply_change(in, {field::kHead, o.head});
  if (!o.num_labels.empty()) apply_change(in, {field::kNumLabels, o.num_labels});
  for (const auto& [id, value] : {std::pair{field::kFsdp, &o.fsdp}, std::pair{field::kReshardAfterForward, &o.reshard_after_forward},
                                   std::pair{field::kParamDtype, &o.param_dtype}, std::pair{field::kReduceDtype, &o.reduce_dtype}}) {
    if (!value->empty()) apply_change(in, {id, *value});
  }
  if (!o.dp_replicate.empty()) apply_change(in, {field::kDpReplicate, o.dp_replicate});
  if (o.fsdp_offload) apply_change(in, {field::kFsdpOffload, "true"});
  if (!o.hidden_dropout.empty()) apply_change(in, {field::kHiddenDropout, o.hidden_dropout});
  if (!o.fsdp_wrap.empty()) apply_change(in, {field::kFsdpWrap, o.fsdp_wrap});
  if (!o.fp8.empty()) apply_change(in, {field::kFp8, o.fp8});
  if (!o.fp8_all_gather.empty()) apply_change(in, {field::kFp8AllGather, o.fp8_all_gather});
  if (!o.fp8_amax_history.empty()) apply_change(in, {field::kFp8AmaxHistory, o.fp8_amax_history});
  if (o.fp8_param_gather) apply_change(in, {field::kFp8ParamGather, "true"});
  if (o.tp_comm_overlap) apply_change(in, {field::kTpCommOverlap, "true"});
  if (!o.target_seq.empty()) apply_change(in, {field::kTargetSeq, o.target_seq});
  if (!o.dropout.empty()) apply_change(in, {field::kDropout, o.dropout});
  if (!o.recipe.empty()) apply_recipe(in, find_recipe(o.recipe), user_fields(o, ds));
  return in;
}

namespace {

// estimate(), with a 64-bit overflow blamed on the input that drives it: the model itself
// when even one token overflows, else the tokens (--seq × --batch).
// Device totals stay below 2^63 so that signed margins (JSON margin_bytes) are exact too.
Estimate checked_estimate(const EstimateInputs& inputs) {
  Estimate est = estimate(inputs);
  if (est.device_total > static_cast<Bytes>(INT64_MAX)) {
    throw InputError(field::kSizes, std::to_string(est.device_total), "device bytes beyond 2^63");
  }
  return est;
}

}  // namespace

Estimate estimate_naming_inputs(const EstimateInputs& inputs, const CliOptions& o) {
  try {
    return checked_estimate(inputs);
  } catch (const InputError& e) {
    if (e.field() != field::kSizes) throw;
  }
  EstimateInputs one = inputs;
  one.setup.seq_len = 1;
  one.setup.micro_batch = 1;
  try {
    (void)checked_estimate(one);
  } catch (const InputError& e) {
    if (e.field() != field::kSizes) throw;
    throw InputError("--model", o.model, "the model's byte counts overflow 64 bits with this setup");
  }
  throw InputError("--seq", std::to_string(inputs.setup.seq_len),
                   fmt::format("with batch {} the byte counts overflow 64 bits; lower --seq or --batch",
                               inputs.setup.micro_batch));
}


int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args(argv + 1, argv + argc);
  CliOptions o;
  if (!args.empty() && is_command(args[0])) {
    o.command = args[0];
    args.erase(args.begin());
  }
  CLI::App app{"vramcalc: how much GPU memory a training run takes, and where every byte goes.\n"
               "Commands: [estimate] (default), fit, sweep, models, gpus, recipes, deepspeed-estimate (each takes --help).",
               o.command == "estimate" ? "vramcalc" : "vramcalc " + o.command};
  app.set_version_flag("--version", std::string("vramcalc ") + version());
  if (o.command == "estimate" || o.command == "fit" || o.command == "sweep") {
    add_estimate_flags(app, o);
  } else if (o.command == "deepspeed-estimate") {
    app.add_option("-m,--model", o.model, "Built-in model name or config.json path")->required();
    app.add_option("--gpus-per-node", o.gpus_per_node, "GPUs per node (default 1)");
    app.add_option("--nodes", o.nodes, "Nodes (default 1)");
  }
  add_output_flags(app, o);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForVersion&) {
    out << "vramcalc " << version() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << "vramcalc: error: " << one_line(e.what()) << " (see --help)\n";
    return kExitUsage;
  }
  try {
    // CliOptions uses "" for "not given"; a value given as '' is an error, not the default.
    for (const CLI::Option* opt : app.get_options()) {
      if (opt->count() == 0 || opt->get_type_size() == 0) continue;
      for (const auto& r : opt->results()) {
        if (r.empty()) throw InputError(opt->get_name(), "", "empty value");
      }
    }
    for (const CLI::Option* opt : app.get_options()) {
      if (opt->count() == 0) continue;
      for (const auto& name : opt->get_lnames()) o.given.push_back("--" + name);
    }
    const OutputOptions view = output_options(o);
    check_format(o, view.format);
    if (o.command == "models") {
      render_models(out, builtin_models(), view);
      return kExitOk;
    }
    if (o.command == "gpus") {
      render_gpus(out, gpu_catalog(), view);
      return kExitOk;
    }
    if (o.command == "recipes") {
      render_recipes(out, builtin_recipes(), view);
      return kExitOk;
    }
    if (o.command == "deepspeed-estimate") {
      const ModelConfig m = resolve_model(o.model);
      const std::uint64_t per_node = parse_count(o.gpus_per_node, "--gpus-per-node", kMaxGpusPerNode);
      const std::uint64_t nodes = parse_count(o.nodes, "--nodes", kMaxNodes);
      const ParameterCounts pc = count_parameters(m);
      std::ostringstream table;  // nothing is printed unless the whole estimate succeeds
      try {
        render_deepspeed_estimate(table, m, pc, per_node, nodes, view);
      } catch (const InputError& e) {
        if (e.field() != field::kSizes) throw;
        std::ostringstream one_gpu;
        try {
          render_deepspeed_estimate(one_gpu, m, pc, 1, 1, view);
        } catch (const InputError& again) {
          if (again.field() != field::kSizes) throw;
          throw InputError("--model", o.model, "the model is too large for DeepSpeed's estimate in 64-bit byte counts");
        }
        throw InputError("--nodes", o.nodes,
                         fmt::format("with --gpus-per-node {} DeepSpeed's estimate overflows 64-bit byte counts", per_node));
      }
      out << table.str();
      return kExitOk;
    }
    if (o.command == "fit") return run_fit(o, view, out, err);
    if (o.command == "sweep") return run_sweep(o, view, out, err);
    std::vector<std::string> warnings;
    const EstimateInputs inputs = to_inputs(o, warnings);
    for (const auto& w : warnings) err << "vramcalc: warning: " << one_line(w) << "\n";
    const Estimate est = estimate_naming_inputs(inputs, o);
    render_estimate(out, est, view);
    return est.fits() ? kExitOk : kExitDoesNotFit;
  } catch (const InputError& e) {
    err << "vramcalc: error: " << error_line(e) << "\n";
    return kExitUsage;
  }
}

}  // namespace vramcalc::cli
