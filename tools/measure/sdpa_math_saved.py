"""Saved tensors of SDPA's math path on CPU (sdpa_kernel(SDPBackend.MATH)), bf16 and fp32, MHA and GQA: unique storages
read with saved_tensors_hooks. Results: tools/measure/FINDINGS.md "SDPA's math fallback".
"""
import torch
from torch.nn.attention import sdpa_kernel, SDPBackend
b, a, kv, s, d = 2, 4, 2, 64, 16
for dt in [torch.bfloat16, torch.float32]:
  for gqa in [False, True]:
    kh = kv if gqa else a
    q = torch.randn(b, a, s, d, dtype=dt, requires_grad=True)
    k = torch.randn(b, kh, s, d, dtype=dt, requires_grad=True)
    v = torch.randn(b, kh, s, d, dtype=dt, requires_grad=True)
    saved = []
    def pack(t):
        saved.append((tuple(t.shape), str(t.dtype).replace("torch.", ""), t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()))
        return t
    with sdpa_kernel(SDPBackend.MATH), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    seen = {}
    for sh, dty, p, n in saved:
        seen.setdefault(p, (sh, dty, n))
    tot = sum(n for _, _, n in seen.values())
    print(dt, "gqa" if gqa else "mha", o.grad_fn.name(), "unique storages:", [(sh, dty, n) for sh, dty, n in seen.values()], "total", tot,
          "T*a*d*4=", b*s*a*d*4, "b*a*s*s*4=", b*a*s*s*4)
