// Block-wise quantized and paged AdamW variants: bytes of their states per tensor, exactly as
// bitsandbytes (optim/optimizer.py Optimizer2State.init_state, get_state_buffer) and torchao
// (optim/adam.py _AdamBase._new_buffer, subclass_8bit.py / subclass_4bit.py zeros) allocate them.
#include "core/low_bit_optim.hpp"

#include <array>
#include <limits>

#include <fmt/format.h>

namespace vramcalc {
namespace {

constexpr Bytes kNever = std::numeric_limits<Bytes>::max();
constexpr Bytes kBnbMaps = 2 * 256 * 4;  // name2qmap "dynamic" + "udynamic", 256 fp32 entries each
constexpr Bytes kBnbPagedMin = 100000;   // get_state_buffer: paged only when p.numel() >= 1e5
constexpr const char* kBnbStep = "bitsandbytes backends/cuda/ops.py optimizer_update_{8bit_blockwise,32bit}: one fused kernel updates p and both states in place";
constexpr const char* kAoStep = "torchao optim/adam.py single_param_adam (torch.compile'd per parameter, fp32 math inside the kernel)";

constexpr std::array kRows = {
    LowBitAdam{Optimizer::kAdamW8bit, 8, 256, 4096, false, true, kBnbMaps, 0, 0,
               "Σ tensors: 2·(n + 4·⌈n/256⌉) if n ≥ 4096 else 8·n, + 2 KiB quantile maps (≈2.03125 B/param)",
               "bitsandbytes optim/optimizer.py Optimizer2State.init_state (blocksize 256, min_8bit_size 4096); arXiv:2110.02861",
               "bitsandbytes functional.optimizer_update_8bit_blockwise"},
    LowBitAdam{Optimizer::kPagedAdamW32bit, 32, 0, kNever, false, true, 0, 0, kBnbPagedMin,
               "Σ tensors: 2 fp32 states 8·n (fp32 whatever the parameter dtype); tensors with n ≥ 100,000 in unified memory",
               "bitsandbytes optim/optimizer.py Optimizer2State.init_state (optim_bits=32) + get_state_buffer (paged if numel ≥ 1e5: functional.get_paged → cudaMallocManaged); arXiv:2305.14314 §2",
               kBnbStep},
    LowBitAdam{Optimizer::kPagedAdamW8bit, 8, 256, 4096, false, true, kBnbMaps, 0, kBnbPagedMin,
               "Σ tensors: uint8 state1+state2 2·n (paged if n ≥ 100,000) + fp32 absmax 2·4·⌈n/256⌉ (never paged) if n ≥ 4096, else 8·n; + 2 KiB quantile maps",
               "bitsandbytes optim/optimizer.py Optimizer2State.init_state (blocksize 256, min_8bit_size 4096) + get_state_buffer (paged if numel ≥ 1e5); arXiv:2110.02861",
               kBnbStep},
    LowBitAdam{Optimizer::kAoAdamW8bit, 8, 256, 4096, true, false, 0, 256 * 4, 0,
               "Σ tensors: if n ≥ 4096 and 256 | n: 2·(n codes + 4·n/256 scale + 1 KiB qmap), else 2·n·b_state (zeros_like(p)) (≈2.03125 B/param)",
               "torchao optim/adam.py _AdamBase._new_buffer (numel ≥ 4096 and numel % block_size == 0) + subclass_8bit.py OptimState8bit.zeros (block_size 256, private 256-entry fp32 qmap)",
               kAoStep},
    LowBitAdam{Optimizer::kAoAdamW4bit, 4, 128, 4096, true, false, 0, 16 * 4, 0,
               "Σ tensors: if n ≥ 4096 and 128 | n: 2·(n/2 packed codes + 4·n/128 scale + 64 B qmap), else 2·n·b_state (zeros_like(p)) (≈1.0625 B/param)",
               "torchao optim/adam.py _AdamBase._new_buffer + AdamW4bit (block_size 128) + subclass_4bit.py OptimState4bit.zeros (codes n//2 uint8, scale n//block fp32, 16-entry fp32 qmap); arXiv:2309.01507",
               kAoStep},
};

struct TensorStates {
  Bytes allocated = 0;
  Bytes paged = 0;
};

// Both states of one tensor of n elements.
TensorStates tensor_states(const LowBitAdam& row, Bytes n, Bytes state_bytes) {
  const bool quantized = n >= row.min_quantized && (!row.needs_divisible || n % row.block == 0);
  const bool paged = row.paged_min != 0 && n >= row.paged_min;
  if (!quantized) {
    const Bytes states = checked_product({2, n, row.fallback_fp32 ? Bytes{4} : state_bytes});
    return paged ? TensorStates{0, states} : TensorStates{states, 0};
  }
  const Bytes codes = 2 * ceil_div(checked_mul(n, row.state_bits), 8);
  const Bytes scales = checked_product({2, 4, ceil_div(n, row.block)});
  const Bytes maps = 2 * row.maps_per_state;
  return paged ? TensorStates{checked_add(scales, maps), codes} : TensorStates{checked_add(codes, checked_add(scales, maps)), 0};
}

}  // namespace

const LowBitAdam* find_low_bit(Optimizer optimizer) {
  for (const auto& row : kRows) {
    if (row.id == optimizer) return &row;
  }
  return nullptr;
}

LowBitStates low_bit_states(const LowBitAdam& row, const ParameterCounts& pc, Bytes state_bytes) {
  Bytes allocated = row.maps_per_optimizer;
  Bytes paged = 0;
  for (const auto& t : pc.tensors) {
    if (!t.trainable) continue;
    const TensorStates s = tensor_states(row, t.numel(), state_bytes);
    allocated = checked_add(allocated, checked_mul(s.allocated, t.count));
    paged = checked_add(paged, checked_mul(s.paged, t.count));
  }
  LowBitStates out;
  out.allocated = {"optimizer_states", allocated, row.formula, row.source};
  if (row.paged_min != 0) {
    out.allocated.formula = fmt::format("{}; here the part PyTorch allocates (tensors with n < 100,000, absmax, maps)", row.formula);
    out.paged = {"paged_optimizer_states", paged,
                 "the states of tensors with n ≥ 100,000 (cudaMallocManaged, cudaMemAttachHost): in nvidia-smi and "
                 "torch.cuda.mem_get_info while resident, NOT in torch.cuda.max_memory_allocated / max_memory_reserved; "
                 "the driver may evict them to host RAM under memory pressure, so the device total is an upper bound",
                 "bitsandbytes optim/optimizer.py get_state_buffer + functional.py get_paged (cudaMallocManaged) and "
                 "prefetch_tensor (cudaMemPrefetchAsync before each update)"};
  } else {
    out.paged = {"paged_optimizer_states", 0, "not a paged optimizer", ""};
  }
  return out;
}

Term low_bit_step_temp(const LowBitAdam& row, std::uint64_t n_max) {
  if (row.step_source != kAoStep) {
    return {"optimizer_step_temp", 0, fmt::format("{}: updates in place, no parameter-sized temporary", to_string(row.id)),
            row.step_source};
  }
  // Inductor fuses the fp32 math of the compiled per-parameter step into its kernels and writes
  // the codes back into the state in place; a block-wise amax (the new scale) is a reduction, so it
  // is materialised before the quantizing kernel reads it: one fp32 scale tensor per state. (The
  // published Llama-2-7B bnb 8-bit vs torchao 4-bit difference equals the state bytes to 0.3%.)
  const Bytes bytes = checked_product({2, 4, ceil_div(n_max, row.block)});
  return {"optimizer_step_temp", bytes,
          fmt::format("the new fp32 block scales of both states of the largest tensor: 2 × 4 B × ⌈{}/{}⌉", group_digits(n_max), row.block),
          row.step_source, true};
}

}  // namespace vramcalc
