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
  kBlocksEagerLoss,  ///< each decoder block compiled on its own, the loss left eager (torchtitan 9dec370 train.py:
                     ///< "compiling loss function causes CUDA errors, turning off for now"; compile.components = ["model"])
};

const char* to_string(Compile value);
/// InputError(field::kCompile) listing the accepted names.
Compile parse_compile(const std::string& text);
std::vector<std::string> compile_names();
/// Whether the loss runs inside a compiled graph (model, blocks); blocks-eager-loss leaves it eager.
bool compiles_loss(Compile value);
/// Whether the decoder blocks are compiled one by one (blocks, blocks-eager-loss).
bool compiles_blocks_apart(Compile value);

}  // namespace vramcalc
