// The flags of tensor, context and pipeline parallelism.
#include <CLI/CLI.hpp>

#include "cli/app.hpp"

namespace vramcalc::cli {
namespace {

constexpr std::uint64_t kMaxDegree = 1ULL << 16;
constexpr std::uint64_t kMaxMicrobatches = 1ULL << 20;

std::uint64_t degree(const std::string& text, const char* flag, std::uint64_t fallback = 1) {
  return text.empty() ? fallback : parse_count(text, flag, kMaxDegree);
}

}  // namespace

void add_model_parallel_flags(CLI::App& app, CliOptions& o) {
  app.add_option("--tp", o.tp, "Tensor-parallel ranks: column/row-parallel linears, vocab-parallel embedding and loss (default 1)");
  app.add_flag("--sp", o.sp, "Sequence parallelism over the --tp group (Megatron): norms and residual split along the sequence");
  app.add_option("--cp", o.cp, "Context-parallel ranks: the sequence split, K/V all-gathered in attention (default 1)");
  app.add_option("--pp", o.pp, "Pipeline stages (default 1); every stage role is reported, the most loaded sets the peak");
  app.add_option("--pp-schedule", o.pp_schedule, "Pipeline schedule: 1f1b|gpipe|interleaved (default 1f1b)");
  app.add_option("--microbatches", o.microbatches, "Micro-batches per step through the pipeline (default --grad-accum)");
  app.add_option("--virtual-stages", o.virtual_stages, "Model chunks per pipeline rank for --pp-schedule interleaved");
  app.add_option("--megatron-optimizer", o.megatron_optimizer,
                 "Megatron-LM's fp32 main_grad buffer and optimizer: none|ddp (18 B/param)|distributed (6 + 12/d B/param)");
}

void apply_model_parallel_flags(const CliOptions& o, EstimateInputs& in) {
  ParallelLayout& l = in.layout;
  l.tp = degree(o.tp, "--tp");
  l.sp = o.sp;
  l.cp = degree(o.cp, "--cp");
  l.pp = degree(o.pp, "--pp");
  if (!o.pp_schedule.empty()) l.pp_schedule = parse_pipeline_schedule(o.pp_schedule);
  if (!o.microbatches.empty()) l.microbatches = parse_count(o.microbatches, "--microbatches", kMaxMicrobatches);
  l.virtual_stages = degree(o.virtual_stages, "--virtual-stages");
  if (!o.megatron_optimizer.empty()) l.megatron = parse_megatron_optimizer(o.megatron_optimizer);
  if (o.gpus.empty()) l.gpus = l.tp * l.cp * l.pp;
}

}  // namespace vramcalc::cli
