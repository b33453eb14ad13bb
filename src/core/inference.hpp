#pragma once
// Inference beside training (--infer): the weights, the KV cache of HF's DynamicCache, the
// prefill forward's workspace and the decode step's cache growth, as a timeline of two moments.

#include <vector>

#include <vramcalc/model.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/timeline.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

struct Inference {
  std::vector<Term> terms;      ///< every allocated term, one per component
  std::vector<Moment> timeline; ///< load, prefill, decode
};

struct EstimateInputs;
/// Throws InputError for training options given with --infer, or inference options without it.
void validate_inference(const EstimateInputs& in);

/// Serving `setup.micro_batch` sequences whose cache holds `setup.seq_len` tokens.
Inference inference(const ModelConfig& model, const ParameterCounts& params, const TrainingSetup& setup, const Term& cublas);

}  // namespace vramcalc
