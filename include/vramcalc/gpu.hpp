#pragma once
/// The GPU catalog (configs/gpus.json, embedded at build time): capacity as PyTorch reports
/// it, CUDA context size and cuBLAS workspace per GPU.

#include <string>
#include <vector>

#include <vramcalc/units.hpp>

namespace vramcalc {

struct GpuSpec {
  std::string name;            ///< lower-case CLI name, e.g. "a100-40gb"
  std::string display;         ///< e.g. "NVIDIA A100-SXM4-40GB"
  Bytes capacity = 0;          ///< torch.cuda.mem_get_info()[1], not the marketing size
  std::string capacity_source;
  Bytes cuda_context = 0;      ///< non-PyTorch memory of context + libraries
  std::string context_source;
  Bytes cublas_workspace = 0;  ///< one cuBLAS workspace (per handle and stream)
  std::string arch;
  int sm_count = 0;            ///< multi_processor_count; 0 = not catalogued (then no SM-dependent term is modelled)
  int max_threads_per_sm = 0;  ///< max_threads_per_multi_processor (CUDA resident threads per SM)
};

/// Every catalogued GPU, in catalog order.
const std::vector<GpuSpec>& gpu_catalog();
/// A GPU by name (case-insensitive), or InputError(field::kGpu, name) with a suggestion.
const GpuSpec& find_gpu(const std::string& name);

}  // namespace vramcalc
