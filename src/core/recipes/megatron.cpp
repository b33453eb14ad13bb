// Megatron-LM (core_v0.16.0, 3bec9aa9) pretrain_gpt with --bf16: what its defaults allocate
// (research modeling-parallel.md §6, §7.2).
#include <vramcalc/error.hpp>

#include "recipes.hpp"

namespace vramcalc::recipes {

Recipe megatron() {
  return {"megatron",
          "Megatron-LM core_v0.16.0",
          "--bf16: bf16 params, fp32 main_grad buffer, fp32 master + Adam (18 B/param; add --megatron-optimizer distributed for "
          "--use-distributed-optimizer)",
          {{field::kPrecision, "mixed", "--bf16: bf16 parameters, fp32 main params in the optimizer",
            "Megatron core/optimizer/optimizer.py Float16OptimizerWithFloat16Params"},
           {field::kMegatron, "ddp",
            "Megatron DDP keeps an fp32 main_grad buffer over every parameter (accumulate_allreduce_grads_in_fp32 with --bf16); "
            "use_distributed_optimizer defaults to False",
            "Megatron core/distributed/param_and_grad_buffer.py _ParamAndGradBuffer; training/arguments.py"},
           {field::kAttention, "sdpa", "Transformer Engine fused/flash attention: no s×s scores saved",
            "Megatron core/transformer/dot_product_attention (TE DotProductAttention)"},
           {field::kGradCkpt, "none", "recompute_granularity defaults to None (selective only with --recompute-activations)",
            "Megatron core/model_parallel_config.py, training/arguments.py"},
           {field::kLoss, "vocab-parallel",
            "GPTModel's loss is vocab_parallel_cross_entropy (also at tp 1): one fp32 copy of the logits, exp and softmax in place, "
            "the gradient written into the saved softmax",
            "Megatron core/tensor_parallel/cross_entropy.py _VocabParallelCrossEntropy; "
            "core/models/common/language_module/language_module.py compute_language_model_loss"},
           {field::kHiddenDropout, "0.1",
            "hidden_dropout defaults to 0.1: the bias-dropout-add after attention and after the MLP, and the embedding dropout, "
            "each keep a bool mask (attention_dropout 0.1 runs inside TE's flash/fused kernel, which keeps only its RNG state)",
            "Megatron core/transformer/transformer_config.py (hidden_dropout = 0.1), training/arguments.py --hidden-dropout"}}};
}

}  // namespace vramcalc::recipes
