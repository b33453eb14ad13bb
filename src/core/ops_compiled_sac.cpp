// torchtitan's op-level selective activation checkpointing around a torch.compile'd block
// (torchtitan 9dec370 torchtitan/parallelisms/parallelize_llama.py: apply_ac wraps each
// TransformerBlock in checkpoint_wrapper(context_fn = create_selective_checkpoint_contexts(policy)),
// then apply_compile compiles each wrapped block). Dynamo traces the checkpoint as a higher-order
// op and tags every node with the policy's decision; AOTAutograd's min-cut partitioner then never
// saves a PREFER_RECOMPUTE node and always saves a MUST_SAVE node *that the backward needs*
// (torch/_functorch/partitioners.py: must_recompute / is_must_save; a forward value no backward
// node reads is not an output of the forward graph at all). So, unlike eager SAC (torch/utils/
// checkpoint.py _CachingTorchDispatchMode stores every MUST_SAVE output until the recompute), the
// compiled block does not keep the output of its last saved matmul (down_proj / w2): only the
// block's output residual add reads it, and an add's backward needs no values.
// Measured on the CPU (tools/measure/FINDINGS.md §35, records hf-compile-*-ckptop-sac-*).
#include <string>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/ops_compiled.hpp"

namespace vramcalc {
namespace {

constexpr const char* kPolicy =
    "torchtitan 9dec370 parallelize_llama.py _apply_ac_to_transformer_block (_save_list, every second mm recomputed); "
    "torch/_functorch/partitioners.py min_cut_rematerialization_partition (measured: tools/measure/FINDINGS.md §35)";

// "layers.*.self_attn.q_proj.weight" -> "q_proj"
std::string module_of(const std::string& name) {
  const std::string tail = ".weight";
  std::string stem = name.ends_with(tail) ? name.substr(0, name.size() - tail.size()) : name;
  const auto dot = stem.rfind('.');
  return dot == std::string::npos ? stem : stem.substr(dot + 1);
}

// The layer's matmul weights in forward order (the family's parameter order: q, k, v, o, gate,
// up, down), as the policy's running aten.mm count sees them.
std::vector<const ParamTensor*> layer_matmuls(const std::vector<ParamTensor>& params) {
  std::vector<const ParamTensor*> out;
  for (const auto& t : params) {
    if (t.scope == ParamScope::kLayer && t.matmul && t.cols != 1) out.push_back(&t);
  }
  return out;
}

Term kept(std::string name, Bytes bytes, std::string formula) { return {std::move(name), bytes, std::move(formula), kPolicy, false}; }

}  // namespace

Bytes compiled_op_sac_kept(const ModelConfig& m, const Dims& x, Bytes layer_input, Activations& act) {
  act.kept_parts.push_back(kept("block.input", layer_input,
                                fmt::format("{}·T·h: the block's input, a graph input of the compiled checkpoint (everything "
                                            "PREFER_RECOMPUTE is recomputed from it)", x.r)));
  const auto params = family_spec(m.family).parameters(m);
  const auto mms = layer_matmuls(params);
  for (std::size_t i = 0; i < mms.size(); ++i) {
    if (i % 2 == 1) continue;  // the policy's count i+1 is even: PREFER_RECOMPUTE
    const std::string mod = module_of(mms[i]->name);
    if (i + 1 == mms.size()) continue;  // the last matmul: only the output residual add reads it (see above)
    act.kept_parts.push_back(kept(mod + ".output", checked_product({x.e, x.T, mms[i]->rows}),
                                  fmt::format("{}·T·{}: aten.mm #{} of the block (odd: MUST_SAVE), read by the backward", x.e,
                                              mms[i]->rows, i + 1)));
  }
  for (const auto& p : act.layer_parts) {
    if (p.name == "attn.out" || p.name == "attn.logsumexp") {
      act.kept_parts.push_back(kept(p.name, p.bytes, p.formula + " (the SDPA kernel's outputs: MUST_SAVE)"));
    }
  }
  Bytes total = 0;
  for (const auto& t : act.kept_parts) total = checked_add(total, t.bytes);
  return total;
}

void validate_compiled_op_sac(const ModelConfig& m, const TrainingSetup& setup) {
  if (setup.grad_ckpt != GradCkpt::kOpSac || setup.compile == Compile::kNone) return;
  const std::string value = to_string(setup.compile);
  if (!compiles_blocks_apart(setup.compile)) {
    throw InputError(field::kCompile, value, "op-level SAC is applied per block before compiling it (torchtitan): use blocks or blocks-eager-loss");
  }
  if (setup.attention != Attention::kSdpa) {
    throw InputError(field::kCompile, value, "op-level SAC under torch.compile is modelled with --attention sdpa only (the kernels in its save list)");
  }
  // Measured for sequential blocks without Linear biases (addmm is not in the save list).
  bool biased = false;
  for (const auto& t : family_spec(m.family).parameters(m)) biased = biased || (t.scope == ParamScope::kLayer && t.name.ends_with("proj.bias"));
  if (m.parallel_block || biased) {
    throw InputError(field::kCompile, value, "op-level SAC under torch.compile is modelled for sequential blocks without Linear biases only");
  }
}

}  // namespace vramcalc
