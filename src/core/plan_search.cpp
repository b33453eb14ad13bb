// The planner's searches: the largest micro-batch or sequence that fits (doubling, then
// bisection over the monotone estimate) and the fewest GPUs for each layout.
#include <vramcalc/plan.hpp>

#include <string>

#include <vramcalc/change.hpp>
#include <vramcalc/error.hpp>

namespace vramcalc {

const std::vector<LayoutOption>& plan_layouts() {
  // One entry per layout; each sets every field the layouts differ in.
  static const std::vector<LayoutOption> kLayouts = [] {
    std::vector<LayoutOption> out;
    const auto add = [&](const std::string& stage, bool offload, const std::string& what) {
      out.push_back({"zero" + stage + (offload ? "+offload" : ""), what,
                     {{field::kZeroStage, stage},
                      {field::kOffloadOptimizer, offload ? "cpu" : "none"},
                      {field::kOffloadParam, "none"},
                      {field::kFsdp, "0"},
                      {field::kFsdpOffload, "false"},
                      {field::kFp8AllGather, "off"}}});  // FSDP2's alone (fsdp2_fp8.cpp validate_fp8_all_gather)
    };
    const auto fsdp = [&](const std::string& name, const std::string& version, bool offload, const std::string& what) {
      out.push_back({name, what,
                     {{field::kZeroStage, "0"},
                      {field::kOffloadOptimizer, "none"},
                      {field::kOffloadParam, "none"},
                      {field::kFsdp, version},
                      {field::kFsdpOffload, offload ? "true" : "false"}}});
      // the float8 all-gather is FSDP2's without CPU offload: FSDP1 and FSDP2+offload set it off;
      // plain FSDP2 keeps the user's --fp8-all-gather
      if (version == "1" || offload) out.back().changes.push_back({field::kFp8AllGather, "off"});
    };
    add("0", false, "data parallel (DDP): every GPU holds all model states");
    add("1", false, "ZeRO-1: optimizer states sharded");
    add("1", true, "ZeRO-1 with the optimizer offloaded to host RAM");
    add("2", false, "ZeRO-2: optimizer states and gradients sharded");
    add("2", true, "ZeRO-2 with the optimizer offloaded to host RAM (ZeRO-Offload)");
    add("3", false, "ZeRO-3: parameters, gradients and optimizer states sharded");
    add("3", true, "ZeRO-3 with the optimizer offloaded to host RAM");
    fsdp("fsdp2", "2", false, "PyTorch FSDP2: parameters, gradients and optimizer states sharded, one block gathered at a time");
    fsdp("fsdp1", "1", false, "PyTorch FSDP1 (FULL_SHARD, a FlatParameter per block): sharded like FSDP2, flat-parameter buffers");
    fsdp("fsdp2+offload", "2", true,
         "FSDP2 with CPUOffloadPolicy: sharded parameters, gradients and optimizer states in host RAM, the step on the CPU");
    return out;
  }();
  return kLayouts;
}

bool fits(const EstimateInputs& inputs, Bytes* device_total) {
  EstimateInputs in = inputs;
  in.with_advice = false;
  try {
    const Estimate est = estimate(in);
    if (device_total != nullptr) *device_total = est.device_total;
    return est.fits();
  } catch (const InputError& e) {
    if (e.field() != field::kSizes) throw;
    if (device_total != nullptr) *device_total = 0;
    return false;  // beyond 64-bit byte counts: far beyond any GPU
  }
}

namespace {

void count(std::uint64_t* estimates) {
  if (estimates != nullptr) ++*estimates;
}

void set_value(EstimateInputs& in, const char* field_id, std::uint64_t value) {
  apply_change(in, {field_id, std::to_string(value)});
}

}  // namespace

FitLimit largest_fitting(const EstimateInputs& inputs, const char* field_id, std::uint64_t cap, std::uint64_t* estimates) {
  EstimateInputs in = inputs;
  Bytes bytes = 0;
  const auto fits_at = [&](std::uint64_t v) {
    set_value(in, field_id, v);
    count(estimates);
    return fits(in, &bytes);
  };
  FitLimit out;
  out.cap = cap;
  if (cap == 0 || !fits_at(1)) return out;
  out.value = 1;
  out.device_total = bytes;
  std::uint64_t fail = 0;  // the smallest value known not to fit (0: none yet)
  while (fail == 0) {      // doubling: 1, 2, 4, ... up to the cap
    if (out.value == cap) {
      out.capped = true;
      return out;
    }
    const std::uint64_t next = out.value > cap / 2 ? cap : out.value * 2;
    if (fits_at(next)) {
      out.value = next;
      out.device_total = bytes;
    } else {
      fail = next;
    }
  }
  while (fail - out.value > 1) {  // bisection: value fits, fail does not
    const std::uint64_t mid = out.value + (fail - out.value) / 2;
    if (fits_at(mid)) {
      out.value = mid;
      out.device_total = bytes;
    } else {
      fail = mid;
    }
  }
  return out;
}

namespace {

// GPU counts a job may use: 1 .. gpus_per_node within a node, then whole nodes. The i-th
// (from 1) of them, increasing in i.
std::uint64_t gpu_count(std::uint64_t i, std::uint64_t per_node) {
  return i <= per_node ? i : (i - per_node + 1) * per_node;
}

std::uint64_t last_index(std::uint64_t max_gpus, std::uint64_t per_node) {
  return max_gpus <= per_node ? max_gpus : per_node + max_gpus / per_node - 1;
}

}  // namespace

LayoutFit fewest_gpus(const EstimateInputs& inputs, const LayoutOption& layout, std::uint64_t max_gpus, std::uint64_t* estimates) {
  LayoutFit out{layout, std::nullopt, 0, 0};
  EstimateInputs in;
  const auto refused = [&out](const InputError& e) {  // the layout does not apply to these inputs: say why
    out.refused_field = e.field();
    out.refused_problem = e.problem();
    return out;
  };
  try {
    in = with_changes(inputs, layout.changes);
  } catch (const InputError& e) {
    return refused(e);
  }
  const std::uint64_t per_node = in.layout.gpus_per_node;
  const std::uint64_t last = last_index(max_gpus, per_node);
  Bytes bytes = 0;
  const auto fits_at = [&](std::uint64_t i) {
    in.layout.gpus = gpu_count(i, per_node);
    count(estimates);
    return fits(in, &bytes);
  };
  // Doubling over the index finds a count that fits; bisection the fewest below it.
  std::uint64_t fail = 0, ok = 0;
  try {
    for (std::uint64_t i = 1; ok == 0; i = i > last / 2 ? last : i * 2) {
      if (fits_at(i)) ok = i, out.device_total = bytes;
      else fail = i;
      if (ok == 0 && i == last) return out;
    }
    while (ok - fail > 1) {
      const std::uint64_t mid = fail + (ok - fail) / 2;
      if (fits_at(mid)) ok = mid, out.device_total = bytes;
      else fail = mid;
    }
  } catch (const InputError& e) {
    return refused(e);
  }
  out.gpus = gpu_count(ok, per_node);
  out.nodes = (*out.gpus + per_node - 1) / per_node;
  return out;
}

}  // namespace vramcalc
