#pragma once
// The configs/ files compiled into the library (see cmake/EmbedConfigs.cmake).

#include <string>
#include <vector>

namespace vramcalc::detail {

struct EmbeddedFile {
  std::string path;  // relative to the repository root
  std::string text;
};

const std::vector<EmbeddedFile>& embedded_model_configs();
const EmbeddedFile& embedded_gpu_catalog();

}  // namespace vramcalc::detail
