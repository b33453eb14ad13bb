#include <vramcalc/training.hpp>

#include <array>
#include <utility>

#include <fmt/format.h>

#include "core/spellcheck.hpp"
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

template <typename E, std::size_t N>
using NameTable = std::array<std::pair<E, const char*>, N>;

constexpr NameTable<Precision, 4> kPrecisions{{
    {Precision::kFp32, "fp32"}, {Precision::kAmp, "amp"}, {Precision::kMixed, "mixed"}, {Precision::kBf16, "bf16"}}};
constexpr NameTable<Optimizer, 11> kOptimizers{{{Optimizer::kAdamW, "adamw"},
                                               {Optimizer::kAdamWFused, "adamw-fused"},
                                               {Optimizer::kAdamW8bit, "adamw-8bit"},
                                               {Optimizer::kSgd, "sgd"},
                                               {Optimizer::kSgdMomentum, "sgd-momentum"},
                                               {Optimizer::kAdafactor, "adafactor"},
                                               {Optimizer::kLion, "lion"},
                                               {Optimizer::kPagedAdamW32bit, "paged-adamw-32bit"},
                                               {Optimizer::kPagedAdamW8bit, "paged-adamw-8bit"},
                                               {Optimizer::kAoAdamW8bit, "ao-adamw-8bit"},
                                               {Optimizer::kAoAdamW4bit, "ao-adamw-4bit"}}};
constexpr NameTable<Attention, 6> kAttentions{
    {{Attention::kEager, "eager"}, {Attention::kSdpa, "sdpa"}, {Attention::kFlash2, "flash2"}, {Attention::kFlash3, "flash3"},
     {Attention::kSdpaMath, "sdpa-math"}, {Attention::kFlex, "flex"}}};
constexpr NameTable<GradCkpt, 4> kGradCkpts{{{GradCkpt::kNone, "none"},
                                             {GradCkpt::kFull, "full"},
                                             {GradCkpt::kSelective, "selective"},
                                             {GradCkpt::kOpSac, "op-sac"}}};
constexpr NameTable<LossImpl, 4> kLosses{
    {{LossImpl::kFull, "full"}, {LossImpl::kChunked, "chunked"}, {LossImpl::kFused, "fused"}, {LossImpl::kVocabParallel, "vocab-parallel"}}};

template <typename E, std::size_t N>
const char* name_of(const NameTable<E, N>& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "?";
}

template <typename E, std::size_t N>
std::vector<std::string> names_of(const NameTable<E, N>& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.second);
  return out;
}

template <typename E, std::size_t N>
E parse_from(const NameTable<E, N>& table, const std::string& text, const char* field) {
  const std::string key = detail::lower(text);
  for (const auto& [e, name] : table) {
    if (key == name) return e;
  }
  const auto names = names_of(table);
  std::string message = fmt::format("expected one of {}", fmt::join(names, ", "));
  const std::string suggestion = detail::closest_match(text, names);
  if (!suggestion.empty()) message += fmt::format(" (did you mean '{}'?)", suggestion);
  throw InputError(field, text, message);
}

}  // namespace

const char* to_string(Precision value) { return name_of(kPrecisions, value); }
const char* to_string(Optimizer value) { return name_of(kOptimizers, value); }
const char* to_string(Attention value) { return name_of(kAttentions, value); }
const char* to_string(GradCkpt value) { return name_of(kGradCkpts, value); }
const char* to_string(LossImpl value) { return name_of(kLosses, value); }

Precision parse_precision(const std::string& text) { return parse_from(kPrecisions, text, field::kPrecision); }
Optimizer parse_optimizer(const std::string& text) { return parse_from(kOptimizers, text, field::kOptimizer); }
Attention parse_attention(const std::string& text) { return parse_from(kAttentions, text, field::kAttention); }
GradCkpt parse_grad_ckpt(const std::string& text) { return parse_from(kGradCkpts, text, field::kGradCkpt); }
LossImpl parse_loss(const std::string& text) { return parse_from(kLosses, text, field::kLoss); }

std::vector<std::string> precision_names() { return names_of(kPrecisions); }
std::vector<std::string> optimizer_names() { return names_of(kOptimizers); }
std::vector<std::string> attention_names() { return names_of(kAttentions); }
std::vector<std::string> grad_ckpt_names() { return names_of(kGradCkpts); }
std::vector<std::string> loss_names() { return names_of(kLosses); }

std::uint64_t parse_kv_dtype(const std::string& text) {
  constexpr std::array<std::pair<const char*, std::uint64_t>, 5> kKv{
      {{"auto", 0}, {"bf16", 2}, {"fp16", 2}, {"fp32", 4}, {"fp8", 1}}};
  const std::string key = detail::lower(text);
  for (const auto& [name, bytes] : kKv) {
    if (key == name) return bytes;
  }
  throw InputError(field::kKvDtype, text, "expected one of auto, bf16, fp16, fp32, fp8");
}

}  // namespace vramcalc
