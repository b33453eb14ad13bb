// T5's dropout, derived from transformers 5.24 models/t5/modeling_t5.py (every nn.Dropout(config.dropout_rate)
// and eager_attention_forward's dropout on the probabilities) and PyTorch's dropout: on CUDA,
// aten::dropout runs the fused native_dropout (aten/src/ATen/native/Dropout.cpp
// is_fused_kernel_acceptable: CUDA/XPU, 0 < p < 1, numel > 0), whose backward saves only its bool
// keep mask, 1 B per element, as Megatron's hidden dropout (ops_dropout.cpp). On the CPU `_dropout_impl`
// multiplies by a noise tensor in the input's dtype, which the mul saves: the measured census has e B
// per element where CUDA has 1 B, at the same places (tools/measure/FINDINGS.md §34).
#include "core/t5_dropout.hpp"

#include <fmt/format.h>

namespace vramcalc {
namespace {

constexpr const char* kDropSrc =
    "transformers 5.24 models/t5/modeling_t5.py {}; aten/src/ATen/native/Dropout.cpp (CUDA: native_dropout saves a bool keep mask)";

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, std::string source, BackwardRegion region) {
  out.push_back({{std::move(name), bytes, std::move(formula), std::move(source), true}, region, false});
}

}  // namespace

void t5_probabilities_dropout(double p, const std::string& prefix, const Dims& x, Bytes sk, const char* dims_text, BackwardRegion region,
                              std::vector<SavedTensor>& out) {
  if (p <= 0.0) return;
  const std::string src = fmt::format(kDropSrc, "eager_attention_forward (nn.functional.dropout(attn_weights, p=dropout, training))");
  if (x.amp) {  // the fp32 dropout output is cast by autocast's matmul, which saves the cast as it saved the softmax output's
    add(out, prefix + ".probabilities_dropout_mask", checked_product({x.b, x.a, x.s, sk}),
        fmt::format("1·b·a·{}: bool keep mask of the probabilities' dropout (p = {:g}); the matmul saves its bf16 cast of the dropout "
                    "output in place of the softmax output's (measured on CPU autocast)",
                    dims_text, p),
        src, region);
    return;
  }
  add(out, prefix + ".probabilities_dropout", checked_product({checked_add(x.e, 1), x.b, x.a, x.s, sk}),
      fmt::format("({} + 1)·b·a·{}: dropout(p = {:g})'s output, saved by the probabilities' matmul in place of the softmax output "
                  "(softmax still saves its own), and its bool keep mask",
                  x.e, dims_text, p),
      src, region);
}

void t5_output_dropout(double p, const std::string& name, const char* layer, const Dims& x, BackwardRegion region, std::vector<SavedTensor>& out) {
  if (p <= 0.0) return;
  add(out, name, checked_product({x.T, x.h}),
      fmt::format("1·T·h: bool keep mask of {}'s output dropout (p = {:g}; the residual add saves nothing)", layer, p),
      fmt::format(kDropSrc, std::string(layer) + ".forward (hidden_states + self.dropout(...))"), region);
}

void t5_ff_dropout(double p, bool gated, const Dims& x, std::vector<SavedTensor>& out) {
  if (p <= 0.0) return;
  const Bytes tI = checked_product({x.T, x.I});
  const char* where = gated ? "T5DenseGatedActDense.forward (dropout after the product)" : "T5DenseActDense.forward (dropout after act)";
  if (gated || x.amp) {  // gated: the dropout output replaces the product as wo's input; amp: wo saves its cast either way
    add(out, "ff.dropout_mask", tI, fmt::format("1·T·I: bool keep mask of the FF's dropout (p = {:g}){}", p,
                                                gated ? "; wo saves the dropout output in place of the product" : ""),
        fmt::format(kDropSrc, where), BackwardRegion::kOutput);
    return;
  }
  add(out, "ff.dropout", checked_product({checked_add(x.e, 1), x.T, x.I}),
      fmt::format("({} + 1)·T·I: the dropout (p = {:g})'s output, wo's saved input (relu still saves its own), and its bool keep mask", x.e, p),
      fmt::format(kDropSrc, where), BackwardRegion::kOutput);
}

Term t5_stack_dropout(double p, const std::string& name, const char* what, const Dims& x) {
  if (p <= 0.0) return {};
  return {name, checked_product({x.T, x.h}), fmt::format("1·T·h: bool keep mask of the {} (p = {:g})", what, p),
          fmt::format(kDropSrc, "T5Stack.forward (self.dropout(inputs_embeds), self.dropout(final_layer_norm(...)))"), true};
}

}  // namespace vramcalc
