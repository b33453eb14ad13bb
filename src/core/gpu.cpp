#include <vramcalc/gpu.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/embedded_configs.hpp"
#include "core/spellcheck.hpp"
#include <vramcalc/error.hpp>

namespace vramcalc {

const std::vector<GpuSpec>& gpu_catalog() {
  static const std::vector<GpuSpec> catalog = [] {
    std::vector<GpuSpec> out;
    const auto j = nlohmann::json::parse(detail::embedded_gpu_catalog().text);
    for (const auto& g : j.at("gpus")) {
      GpuSpec spec;
      spec.name = g.at("name").get<std::string>();
      spec.display = g.value("display", spec.name);
      spec.capacity = g.at("capacity_bytes").get<Bytes>();
      spec.capacity_source = g.value("capacity_source", "");
      spec.cuda_context = g.at("cuda_context_bytes").get<Bytes>();
      spec.context_source = g.value("context_source", "");
      spec.cublas_workspace = g.at("cublas_workspace_bytes").get<Bytes>();
      spec.arch = g.value("arch", "");
      spec.sm_count = g.value("sm_count", 0);
      spec.max_threads_per_sm = g.value("max_threads_per_sm", 0);
      out.push_back(std::move(spec));
    }
    return out;
  }();
  return catalog;
}

const GpuSpec& find_gpu(const std::string& name) {
  const std::string key = detail::lower(name);
  std::vector<std::string> names;
  for (const auto& g : gpu_catalog()) {
    if (g.name == key) return g;
    names.push_back(g.name);
  }
  std::string message = "unknown GPU";
  const std::string suggestion = detail::closest_match(name, names);
  if (!suggestion.empty()) message += fmt::format("; did you mean '{}'?", suggestion);
  throw InputError(field::kGpu, name, message);
}

}  // namespace vramcalc
