#pragma once
/// torch.compile of the training step: which graphs inductor compiles. AOTAutograd's min-cut
/// partitioner (torch/_functorch/partitioners.py min_cut_rematerialization_partition) then
/// decides, per compiled graph, which forward values are saved for backward and which the
/// backward recomputes (src/core/ops_compiled.cpp, tools/measure/FINDINGS.md "torch.compile").

#include <string>
#include <vector>

namespace vramcalc {

enum class Compile {
  kNone,    ///< eager execution
  kModel,   ///< torch.compile(model): one graph with the layers, the head and the loss (HF Trainer torch_compile)
  kBlocks,  ///< each decoder block compiled on its own and the loss compiled separately (torchtune compile_model +
            ///< compile_loss, torchtitan apply_compile with "loss" in compile.components)
};

const char* to_string(Compile value);
/// InputError(field::kCompile) listing the accepted names.
Compile parse_compile(const std::string& text);
std::vector<std::string> compile_names();

}  // namespace vramcalc
