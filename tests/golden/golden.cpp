// The golden corpus: every byte the estimator produces over a fixed, seeded grid of command
// lines, so that a change to the code's shape can be proved not to change a single number.
//
//   golden --generate N --seed S [--extended M [--later K [--latest J]]] > tests/data/golden/corpus.jsonl   (scripts/gen_golden.sh)
//   golden --check tests/data/golden/corpus.jsonl                  (the ctest)
//
// Each line holds the command line (its arguments, as a user would type them after `vramcalc`)
// and what the estimate made of it: per phase the allocated bytes and every component's bytes,
// every component's bytes at the peak / its largest / its own size, the peak, reserve, device
// total, the load phase, host memory and the advice's re-estimated peaks. Notes, formulas and
// labels are text and are not compared.
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include <vramcalc/vramcalc.hpp>

namespace {

using nlohmann::json;
using namespace vramcalc;

// The options of the fourth stream (FSDP2's float8 all-gather, Transformer Engine FP8 under
// Megatron, T5's decoder length); false if `k` is not one of them.
bool latest_option(cli::CliOptions& o, const std::string& k, const std::string& v) {
  if (k == "--fp8-all-gather") o.fp8_all_gather = v;
  else if (k == "--fp8-amax-history-len") o.fp8_amax_history = v;
  else if (k == "--fp8-param-gather") o.fp8_param_gather = v == "on";
  else if (k == "--tp-comm-overlap") o.tp_comm_overlap = v == "on";
  else if (k == "--target-seq") o.target_seq = v;
  else return false;
  return true;
}

// The options of the third stream (features added after the extended corpus); false if `k` is
// not one of them. Each key is also recorded as given, as the CLI does, so a recipe never
// overrides it.
bool later_option(cli::CliOptions& o, const std::string& k, const std::string& v) {
  if (k == "--recipe") o.recipe = v;
  else if (k == "--head") o.head = v;
  else if (k == "--num-labels") o.num_labels = v;
  else if (k == "--offload-activations") o.offload_activations = v == "on";
  else if (k == "--compile") o.compile = v;
  else if (k == "--ep") o.ep = v;
  else if (k == "--moe-imbalance") o.moe_imbalance = v;
  else if (k == "--moe-capacity-factor") o.moe_capacity_factor = v;
  else if (k == "--moe-pad-to-capacity") o.moe_pad_to_capacity = v == "on";
  else if (k == "--dp-replicate") o.dp_replicate = v;
  else if (k == "--fsdp-offload") o.fsdp_offload = v == "on";
  else if (k == "--dora") o.dora = v == "on";
  else if (k == "--kbit-upcast") o.kbit_upcast = v;
  else if (k == "--hidden-dropout") o.hidden_dropout = v;
  else if (k == "--fsdp-wrap") o.fsdp_wrap = v;
  else if (k == "--fp8") o.fp8 = v;
  else return latest_option(o, k, v);
  return true;
}

// Parses `args` the way the CLI does and estimates; throws InputError for invalid lines.
Estimate estimate_args(const std::vector<std::string>& args) {
  cli::CliOptions o;
  for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string& k = args[i];
    const std::string& v = args[i + 1];
    o.given.push_back(k);
    if (k == "--model") o.model = v;
    else if (k == "--seq") o.seq = v;
    else if (k == "--batch") o.batch = v;
    else if (k == "--grad-accum") o.grad_accum = v;
    else if (k == "--precision") o.precision = v;
    else if (k == "--optimizer") o.optimizer = v;
    else if (k == "--attention") o.attention = v;
    else if (k == "--grad-ckpt") o.grad_ckpt = v;
    else if (k == "--loss") o.loss = v;
    else if (k == "--loss-chunks") o.loss_chunks = v;
    else if (k == "--mask") o.mask = v;
    else if (k == "--fragmentation") o.fragmentation = v;
    else if (k == "--zero") o.zero = v;
    else if (k == "--gpus") o.gpus = v;
    else if (k == "--gpus-per-node") o.gpus_per_node = v;
    else if (k == "--offload-optimizer") o.offload_optimizer = v;
    else if (k == "--offload-params") o.offload_params = v;
    else if (k == "--zero-init") o.zero_init = v == "on", o.no_zero_init = v == "off";
    else if (k == "--load-dtype") o.load_dtype = v;
    else if (k == "--interconnect") o.interconnect = v;
    else if (k == "--nccl-channels") o.nccl_channels = v;
    else if (k == "--deepspeed") o.deepspeed = std::string(VRAMCALC_SOURCE_DIR) + "/" + v;
    else if (k == "--cpu-mem") o.cpu_mem = v;
    else if (k == "--gpu") o.gpu = v;
    else if (k == "--gpu-mem") o.gpu_mem = v;
    else if (k == "--kernels") o.kernels = v;
    else if (k == "--fused-norm") o.fused_norm = v == "on";
    else if (k == "--fused-rope") o.fused_rope = v == "on";
    else if (k == "--fused-swiglu") o.fused_swiglu = v == "on";
    else if (k == "--ac-every") o.ac_every = v;
    else if (k == "--optimizer-in-backward") o.optimizer_in_backward = v == "on";
    else if (k == "--infer") o.infer = v == "on";
    else if (k == "--kv-dtype") o.kv_dtype = v;
    else if (k == "--lora-rank") o.lora_rank = v;
    else if (k == "--lora-targets") o.lora_targets = v;
    else if (k == "--lora-dropout") o.lora_dropout = v;
    else if (k == "--lora-dtype") o.lora_dtype = v;
    else if (k == "--base-quant") o.base_quant = v;
    else if (k == "--no-double-quant") o.no_double_quant = v == "on";
    else if (k == "--tp") o.tp = v;
    else if (k == "--sp") o.sp = v == "on";
    else if (k == "--cp") o.cp = v;
    else if (k == "--pp") o.pp = v;
    else if (k == "--pp-schedule") o.pp_schedule = v;
    else if (k == "--microbatches") o.microbatches = v;
    else if (k == "--virtual-stages") o.virtual_stages = v;
    else if (k == "--megatron-optimizer") o.megatron_optimizer = v;
    else if (k == "--fsdp") o.fsdp = v;
    else if (k == "--reshard-after-forward") o.reshard_after_forward = v;
    else if (k == "--param-dtype") o.param_dtype = v;
    else if (k == "--reduce-dtype") o.reduce_dtype = v;
    else if (!later_option(o, k, v)) throw std::runtime_error("golden: unknown key " + k);
  }
  std::vector<std::string> warnings;
  return estimate(cli::to_inputs(o, warnings));
}

json record(const std::vector<std::string>& args, const Estimate& est) {
  json phases = json::object();
  for (const auto& ph : est.phases) {
    json entries = json::object();
    for (const auto& e : ph.entries) entries[std::string(name_of(e.id))] = e.bytes;
    phases[std::string(ph.name())] = {{"allocated", ph.allocated}, {"entries", entries}};
  }
  json components = json::object();
  for (const auto& c : est.components) {
    components[std::string(name_of(c.id))] = {c.term.bytes, c.max_bytes, c.size_bytes, to_string(c.kind)};
  }
  json advice = json::array();
  for (const auto& a : est.advice) advice.push_back(a.peak_after);
  return {{"args", args},
          {"peak_allocated", est.peak_allocated},
          {"peak_reserved", est.peak_reserved},
          {"non_pytorch", est.non_pytorch},
          {"device_total", est.device_total},
          {"peak_phase", std::string(est.phases[est.peak_phase].name())},
          {"phases", phases},
          {"components", components},
          {"load", {est.load.gpu, est.load.cpu_per_rank, est.load.cpu_per_node}},
          {"host", {est.host.ram_per_rank, est.host.ram_per_node, est.host.pinned_per_node, est.host.nvme.bytes}},
          {"cpu_peak_per_node", est.cpu_peak_per_node},
          {"advice_peaks", advice}};
}

// A deterministic pick from a list (std::mt19937_64's sequence is fixed by the standard).
template <typename T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& options) {
  return options[rng() % options.size()];
}

std::vector<std::string> random_args(std::mt19937_64& rng) {
  static const std::vector<std::string> models = {
      "llama-3-8b", "llama-3.1-8b", "llama-3-70b", "llama-2-7b", "llama-2-13b", "llama-2-70b",
      "llama-3.2-1b", "llama-3.2-3b", "mistral-7b", "qwen2.5-7b", "qwen2.5-0.5b", "gemma-2b",
      "gemma-7b", "gemma-2-9b", "gemma-2-2b", "phi-3-mini"};
  std::vector<std::string> a = {"--model", pick(rng, models)};
  auto maybe = [&](const char* key, const std::vector<std::string>& values) {
    if (rng() % 2 == 0) {
      a.push_back(key);
      a.push_back(pick(rng, values));
    }
  };
  // Sequence length: log-uniform over 1..131072, plus the powers of two people use.
  const std::uint64_t seq = rng() % 3 == 0 ? (std::uint64_t{1} << (rng() % 18)) : 1 + rng() % (std::uint64_t{1} << (1 + rng() % 17));
  a.insert(a.end(), {"--seq", std::to_string(seq)});
  maybe("--batch", {"1", "2", "3", "4", "8", "16", "32", "64"});
  maybe("--grad-accum", {"1", "2", "8"});
  maybe("--precision", {"fp32", "amp", "mixed", "bf16"});
  maybe("--optimizer", {"adamw", "adamw-fused", "adamw-8bit", "sgd", "sgd-momentum", "adafactor", "lion"});
  maybe("--attention", {"eager", "sdpa"});
  maybe("--grad-ckpt", {"none", "full", "selective", "op-sac"});
  maybe("--loss", {"full", "chunked", "fused"});
  maybe("--loss-chunks", {"4", "8", "16"});
  maybe("--mask", {"causal", "explicit"});
  maybe("--fragmentation", {"0", "5", "10"});
  if (rng() % 5 == 0) {
    a.insert(a.end(), {"--deepspeed", pick(rng, std::vector<std::string>{
        "tests/data/ds_configs/hf_zero2_auto.json", "tests/data/ds_configs/hf_zero3_auto.json",
        "tests/data/ds_configs/hf_zero3_offload_cpu.json", "tests/data/ds_configs/hf_zero2_offload.json",
        "tests/data/ds_configs/hf_zero3_nvme.json", "tests/data/ds_configs/axolotl_zero3_bf16.json"})});
  } else {
    maybe("--zero", {"0", "1", "2", "3", "3"});
  }
  const std::uint64_t per_node = std::uint64_t{1} << (rng() % 4);
  const std::uint64_t nodes = pick(rng, std::vector<std::uint64_t>{1, 1, 2, 4, 8, 32});
  a.insert(a.end(), {"--gpus", std::to_string(per_node * nodes), "--gpus-per-node", std::to_string(per_node)});
  if (rng() % 4 == 0) maybe("--offload-optimizer", {"none", "cpu", "nvme"});
  if (rng() % 4 == 0) maybe("--offload-params", {"none", "cpu", "nvme"});
  if (rng() % 4 == 0) maybe("--zero-init", {"on", "off"});
  maybe("--load-dtype", {"auto", "fp32", "bf16"});
  if (rng() % 3 == 0) maybe("--interconnect", {"auto", "nvlink", "pcie", "ib", "efa"});
  if (rng() % 6 == 0) maybe("--nccl-channels", {"2", "8", "32"});
  if (rng() % 3 == 0) maybe("--gpu", {"a100-40gb", "a100-80gb", "h100-80gb", "l4", "rtx-4090", "mi300x"});
  if (rng() % 6 == 0) maybe("--gpu-mem", {"24GiB", "40GB", "141GB"});
  if (rng() % 6 == 0) maybe("--cpu-mem", {"64GiB", "512GiB", "2TiB"});
  return a;
}

// The features added after the first corpus (families, LoRA/QLoRA, kernels, fine-tuning
// optimizers, inference, FSDP2, tensor/context/pipeline parallelism): a second seeded stream,
// appended after the first so that the first lines stay byte for byte what they were.
std::vector<std::string> extended_args(std::mt19937_64& rng) {
  static const std::vector<std::string> models = {
      "llama-3-8b", "llama-3-70b", "llama-2-7b", "mistral-7b", "qwen2.5-7b", "qwen2.5-0.5b", "gemma-2-2b",
      "phi-3-mini", "pythia-1.4b", "falcon-7b", "qwen3-8b", "olmo-2-7b", "gpt2", "gpt2-medium", "phi-2",
      "starcoder2-3b", "gemma-3-1b", "bloom-560m", "bert-base-uncased", "roberta-base", "mixtral-8x7b",
      "qwen3-30b-a3b", "qwen1.5-moe-a2.7b"};
  std::vector<std::string> a = {"--model", pick(rng, models)};
  auto maybe = [&](const char* key, const std::vector<std::string>& values) {
    if (rng() % 2 == 0) a.insert(a.end(), {key, pick(rng, values)});
  };
  const std::uint64_t seq = std::uint64_t{1} << (6 + rng() % 11);
  a.insert(a.end(), {"--seq", std::to_string(seq)});
  maybe("--batch", {"1", "2", "4", "8"});
  maybe("--precision", {"fp32", "amp", "mixed", "bf16"});
  maybe("--attention", {"eager", "sdpa", "flash2", "flash3"});
  maybe("--grad-ckpt", {"none", "full", "selective"});
  switch (rng() % 7) {
    case 0:  // LoRA / QLoRA on one GPU
      a.insert(a.end(), {"--lora-rank", pick(rng, std::vector<std::string>{"8", "16", "64"})});
      maybe("--lora-targets", {"q,v", "attention", "mlp", "all-linear"});
      maybe("--lora-dropout", {"0", "0.05", "0.1"});
      maybe("--lora-dtype", {"fp32", "bf16"});
      maybe("--base-quant", {"none", "nf4", "fp4"});
      if (rng() % 4 == 0) a.insert(a.end(), {"--no-double-quant", "on"});
      break;
    case 1:  // kernels
      maybe("--kernels", {"hf", "liger"});
      maybe("--fused-norm", {"on", "off"});
      maybe("--fused-rope", {"on", "off"});
      maybe("--fused-swiglu", {"on", "off"});
      maybe("--loss", {"full", "chunked", "fused"});
      if (rng() % 2 == 0) a.insert(a.end(), {"--grad-ckpt", "full", "--ac-every", pick(rng, std::vector<std::string>{"1", "2", "4"})});
      break;
    case 2:  // fine-tuning optimizers
      maybe("--optimizer", {"adamw", "adamw-fused", "adamw-8bit", "paged-adamw-32bit", "paged-adamw-8bit", "ao-adamw-8bit", "ao-adamw-4bit"});
      maybe("--optimizer-in-backward", {"on", "off"});
      break;
    case 3:  // inference
      a.insert(a.end(), {"--infer", "on"});
      maybe("--kv-dtype", {"auto", "bf16", "fp32", "fp8"});
      break;
    case 4:  // FSDP2
      a.insert(a.end(), {"--fsdp", "2", "--gpus", pick(rng, std::vector<std::string>{"2", "8", "64"})});
      maybe("--reshard-after-forward", {"true", "false"});
      maybe("--param-dtype", {"bf16", "fp32"});
      maybe("--reduce-dtype", {"bf16", "fp32"});
      break;
    case 5: {  // tensor, sequence, context and pipeline parallelism
      const std::string tp = pick(rng, std::vector<std::string>{"1", "2", "4", "8"});
      const std::string pp = pick(rng, std::vector<std::string>{"1", "2", "4"});
      a.insert(a.end(), {"--tp", tp, "--pp", pp, "--gpus", std::to_string(std::stoul(tp) * std::stoul(pp) * 2)});
      if (tp != "1") maybe("--sp", {"on", "off"});
      if (pp != "1") {
        maybe("--pp-schedule", {"1f1b", "gpipe"});
        maybe("--microbatches", {"4", "8"});
      }
      maybe("--megatron-optimizer", {"ddp", "distributed"});
      break;
    }
    default:  // context parallelism
      a.insert(a.end(), {"--cp", pick(rng, std::vector<std::string>{"2", "4"}), "--gpus", "8"});
      break;
  }
  if (rng() % 3 == 0) maybe("--gpu", {"a100-80gb", "h100-80gb", "rtx-4090", "l4"});
  return a;
}

// The features added after the extended stream (encoder heads, activation offloading, compile,
// expert parallelism, FSDP1 / HSDP / FSDP2 offload, attention backends, recipes, more families,
// FP8, Megatron's loss and dropout):
// a third seeded stream, appended after the second so that the earlier lines stay as they were.
std::vector<std::string> later_args(std::mt19937_64& rng) {
  static const std::vector<std::string> models = {
      "llama-3.1-8b", "llama-3.2-1b", "qwen3-0.6b", "qwen3-8b", "gemma-2-2b", "mistral-7b", "gpt-oss-20b",
      "deepseek-v2-lite", "mixtral-8x7b", "qwen3-30b-a3b", "bert-base-uncased", "roberta-base", "gpt2"};
  std::vector<std::string> a = {"--model", pick(rng, models)};
  auto maybe = [&](const char* key, const std::vector<std::string>& values) {
    if (rng() % 2 == 0) a.insert(a.end(), {key, pick(rng, values)});
  };
  a.insert(a.end(), {"--seq", std::to_string(std::uint64_t{1} << (7 + rng() % 10))});
  maybe("--batch", {"1", "2", "4"});
  maybe("--grad-ckpt", {"none", "full", "selective", "op-sac"});
  switch (rng() % 8) {
    case 6:  // FP8 training (torchao float8)
      a.insert(a.end(), {"--fp8", pick(rng, std::vector<std::string>{"tensorwise", "rowwise"})});
      maybe("--precision", {"bf16", "mixed", "amp"});
      break;
    case 7:  // Megatron's loss and dropout, torchtitan's compile form
      maybe("--loss", {"full", "vocab-parallel"});
      maybe("--hidden-dropout", {"0", "0.1"});
      maybe("--compile", {"blocks", "blocks-eager-loss"});
      maybe("--tp", {"1", "2"});
      break;
    case 0:  // encoder heads
      a.insert(a.end(), {"--head", pick(rng, std::vector<std::string>{"lm", "mlm", "seq-cls"})});
      maybe("--num-labels", {"2", "3", "1000"});
      break;
    case 1:  // kernels, attention backends, compile, activation offloading
      maybe("--attention", {"eager", "sdpa", "sdpa-math", "flex", "flash2"});
      maybe("--compile", {"none", "model", "blocks"});
      maybe("--offload-activations", {"on", "off"});
      break;
    case 2:  // expert parallelism
      a.insert(a.end(), {"--ep", pick(rng, std::vector<std::string>{"1", "2", "4", "8"}), "--gpus", "8"});
      maybe("--moe-imbalance", {"1", "1.68", "3"});
      maybe("--moe-capacity-factor", {"1", "1.25"});
      maybe("--moe-pad-to-capacity", {"on", "off"});
      maybe("--zero", {"0", "1", "3"});
      break;
    case 3:  // FSDP1, HSDP, FSDP2 CPU offload
      a.insert(a.end(), {"--fsdp", pick(rng, std::vector<std::string>{"1", "2"}), "--gpus",
                         pick(rng, std::vector<std::string>{"2", "8", "16", "64"})});
      maybe("--dp-replicate", {"1", "2", "4"});
      maybe("--fsdp-offload", {"on", "off"});
      maybe("--reshard-after-forward", {"true", "false"});
      maybe("--fsdp-wrap", {"blocks", "none"});
      break;
    case 4:  // fine-tuning variants
      a.insert(a.end(), {"--lora-rank", pick(rng, std::vector<std::string>{"8", "64"})});
      maybe("--dora", {"on", "off"});
      maybe("--base-quant", {"none", "nf4"});
      maybe("--kbit-upcast", {"true", "false"});
      break;
    default:  // framework recipes over the parallel layouts
      a.insert(a.end(), {"--recipe", pick(rng, std::vector<std::string>{"hf-trainer", "torchtitan", "megatron", "accelerate-fsdp", "peft", "torchtune", "litgpt",
                                                                       "deepspeed", "lightning"}),
                         "--gpus", pick(rng, std::vector<std::string>{"1", "8", "64"})});
      maybe("--tp", {"1", "2", "8"});
      break;
  }
  if (rng() % 3 == 0) maybe("--gpu", {"a100-80gb", "h100-80gb", "h200", "l4"});
  return a;
}

// The features added after the third stream (FSDP2's float8 all-gather, Transformer Engine FP8
// under Megatron with its workspaces, T5 with a decoder length, op-level SAC over biased Linears):
// a fourth seeded stream, appended after the third.
std::vector<std::string> latest_args(std::mt19937_64& rng) {
  std::vector<std::string> a;
  auto maybe = [&](const char* key, const std::vector<std::string>& values) {
    if (rng() % 2 == 0) a.insert(a.end(), {key, pick(rng, values)});
  };
  const auto seq = std::to_string(std::uint64_t{1} << (7 + rng() % 9));
  switch (rng() % 4) {
    case 0:  // FSDP2 with torchao float8 and its all-gather
      a = {"--model", pick(rng, std::vector<std::string>{"llama-3.1-8b", "llama-3.2-1b", "qwen3-8b"}), "--seq", seq, "--fsdp", "2",
           "--gpus", pick(rng, std::vector<std::string>{"2", "8", "64"}), "--fp8", "tensorwise"};
      maybe("--fp8-all-gather", {"on", "off"});
      maybe("--reshard-after-forward", {"true", "false"});
      break;
    case 1:  // Transformer Engine FP8 under Megatron
      a = {"--model", pick(rng, std::vector<std::string>{"llama-3.1-8b", "llama-3.2-1b", "mistral-7b"}), "--seq", seq, "--recipe",
           "megatron", "--gpus", "8", "--tp", "2", "--sp", "on", "--fp8", pick(rng, std::vector<std::string>{"tensorwise", "delayed"})};
      if (a.back() == "delayed") maybe("--fp8-amax-history-len", {"1", "16", "1024"});
      maybe("--megatron-optimizer", {"distributed"});
      maybe("--fp8-param-gather", {"on"});
      maybe("--tp-comm-overlap", {"on"});
      break;
    case 2:  // T5 encoder-decoders with a decoder length
      a = {"--model", pick(rng, std::vector<std::string>{"t5-small", "t5-base", "flan-t5-large", "flan-t5-xl"}), "--seq", seq,
           "--target-seq", std::to_string(std::uint64_t{1} << (5 + rng() % 7)), "--attention", "eager"};
      maybe("--precision", {"fp32", "bf16", "mixed", "amp"});
      maybe("--grad-ckpt", {"none", "full"});
      break;
    default:  // eager op-level SAC over biased q/k/v (aten.addmm)
      a = {"--model", pick(rng, std::vector<std::string>{"qwen2.5-0.5b", "qwen2.5-7b", "llama-3.1-8b"}), "--seq", seq, "--grad-ckpt", "op-sac"};
      break;
  }
  maybe("--batch", {"1", "2", "4"});
  if (rng() % 3 == 0) maybe("--gpu", {"a100-80gb", "h100-80gb", "h200"});
  return a;
}

int generate(std::size_t count, std::uint64_t seed, std::size_t extended, std::size_t later, std::size_t latest = 0) {
  std::mt19937_64 rng(seed);
  std::mt19937_64 rng2(seed + 1);
  std::mt19937_64 rng3(seed + 2);
  std::mt19937_64 rng4(seed + 3);
  std::size_t written = 0;
  std::size_t rejected = 0;
  while (written < count + extended + later + latest) {
    const std::vector<std::string> args = written < count                      ? random_args(rng)
                                          : written < count + extended         ? extended_args(rng2)
                                          : written < count + extended + later ? later_args(rng3)
                                                                               : latest_args(rng4);
    try {
      std::cout << record(args, estimate_args(args)).dump() << "\n";
      ++written;
    } catch (const InputError&) {
      ++rejected;  // invalid combination (e.g. offload without ZeRO): not part of the corpus
    }
  }
  std::cerr << fmt::format("golden: {} configurations written, {} invalid combinations skipped\n", written, rejected);
  return 0;
}

// Lists every path where `want` and `got` differ (at most `room` of them).
void diff(const json& want, const json& got, const std::string& path, std::vector<std::string>& out) {
  if (out.size() >= 20) return;
  if (want.is_object() && got.is_object()) {
    for (const auto& [k, v] : want.items()) {
      if (!got.contains(k)) out.push_back(fmt::format("{}.{}: missing (want {})", path, k, v.dump()));
      else diff(v, got.at(k), path + "." + k, out);
    }
    for (const auto& [k, v] : got.items()) {
      if (!want.contains(k)) out.push_back(fmt::format("{}.{}: unexpected {}", path, k, v.dump()));
    }
  } else if (want != got) {
    out.push_back(fmt::format("{}: want {}, got {}", path, want.dump(), got.dump()));
  }
}

int check(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "golden: cannot read " << path << "\n";
    return 1;
  }
  std::string line;
  std::size_t n = 0;
  std::size_t failed = 0;
  while (std::getline(in, line)) {
    ++n;
    const json want = json::parse(line);
    const auto args = want.at("args").get<std::vector<std::string>>();
    std::vector<std::string> diffs;
    try {
      diff(want, record(args, estimate_args(args)), "", diffs);
    } catch (const std::exception& e) {
      diffs.push_back(std::string("threw: ") + e.what());
    }
    if (!diffs.empty()) {
      if (++failed <= 10) {
        std::cerr << fmt::format("line {}: vramcalc {}\n", n, fmt::join(args, " "));
        for (const auto& d : diffs) std::cerr << "  " << d << "\n";
      }
    }
  }
  std::cout << fmt::format("{} passed, {} failed\n", n - failed, failed);
  return failed == 0 && n > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 4 && args[0] == "--generate" && args[2] == "--seed") {
    return generate(std::stoul(args[1]), std::stoull(args[3]), 0, 0);
  }
  if (args.size() == 6 && args[0] == "--generate" && args[2] == "--seed" && args[4] == "--extended") {
    return generate(std::stoul(args[1]), std::stoull(args[3]), std::stoul(args[5]), 0);
  }
  if (args.size() == 8 && args[0] == "--generate" && args[2] == "--seed" && args[4] == "--extended" &&
      args[6] == "--later") {
    return generate(std::stoul(args[1]), std::stoull(args[3]), std::stoul(args[5]), std::stoul(args[7]));
  }
  if (args.size() == 10 && args[0] == "--generate" && args[2] == "--seed" && args[4] == "--extended" &&
      args[6] == "--later" && args[8] == "--latest") {
    return generate(std::stoul(args[1]), std::stoull(args[3]), std::stoul(args[5]), std::stoul(args[7]), std::stoul(args[9]));
  }
  if (args.size() == 2 && args[0] == "--check") return check(args[1]);
  std::cerr << "usage: golden --generate N --seed S [--extended M [--later K [--latest J]]] | golden --check FILE\n";
  return 2;
}
