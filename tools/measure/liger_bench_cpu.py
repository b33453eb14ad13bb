"""CPU replays of Liger-Kernel benchmark scripts (benchmark/scripts/benchmark_rms_norm.py, benchmark_rope.py at b5672a15)
through the c10 CPU allocator (profiler memory events): the HF providers run the same torch code as on the GPU; the
Liger RMSNorm 0.2.1 function is emulated with its allocations (Y, fp32 r, dW = empty_like(X, fp32), dX written into dY).
Usage: python liger_bench_cpu.py rms|rope. Results: tools/measure/FINDINGS.md "Liger per-kernel benchmark curves".
"""
import sys, torch
from torch.profiler import profile, ProfilerActivity
torch.manual_seed(0)
def peak_of(setup, full, iters=3):
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        st = setup()
        marks = []
        for i in range(iters):
            m = torch.empty(7777701 + i, dtype=torch.uint8); del m
            full(st)
        m = torch.empty(7777799, dtype=torch.uint8); del m
    ev = [e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    cur, peaks, ph = 0, {}, None
    for n in ev:
        if abs(n) >= 7777701 and abs(n) <= 7777799:
            if n > 0: ph = n; peaks[ph] = cur
            continue
        cur += n
        if ph is not None: peaks[ph] = max(peaks[ph], cur)
    return [peaks[k] for k in sorted(peaks) if k != 7777799]

class LlamaRMSNorm(torch.nn.Module):
    def __init__(self, n, eps=1e-6):
        super().__init__(); self.weight = torch.nn.Parameter(torch.ones(n)); self.eps = eps
    def forward(self, h):
        dt = h.dtype; h = h.to(torch.float32)
        var = h.pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(var + self.eps)
        return self.weight * h.to(dt)

class LigerRMS021(torch.autograd.Function):  # allocation pattern of liger 0.2.1 ops/rms_norm.py
    @staticmethod
    def forward(ctx, X, W, eps):
        X = X.view(-1, X.shape[-1]).contiguous()
        Y = torch.empty_like(X); r = torch.empty(X.shape[0], dtype=torch.float32)
        r.copy_(torch.ones(1))
        Y.copy_(X)
        ctx.save_for_backward(X, W, r); return Y
    @staticmethod
    def backward(ctx, dY):
        X, W, r = ctx.saved_tensors
        dW = torch.empty_like(X, dtype=W.dtype)
        dW.fill_(0)
        dX = dY.view(*dY.shape)
        return dX, torch.sum(dW, dim=0).to(W.dtype), None

def rms(provider, M, N):
    def setup():
        w = torch.nn.Parameter(torch.ones(N)); hf = LlamaRMSNorm(N)
        x = torch.randn(M, N, dtype=torch.bfloat16); dy = torch.randn_like(x); x.requires_grad_(True)
        return (w, hf, x, dy)
    def full(st):
        w, hf, x, dy = st
        y = LigerRMS021.apply(x, w, 1e-6) if provider == "liger" else hf(x)
        y.backward(dy, retain_graph=True)
    return peak_of(setup, full)

def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]; x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)
def hf_rope(q, k, cos, sin):
    cos = cos.unsqueeze(1); sin = sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)

def rope(provider, s, H, a=32, kv=8):
    d = H // a
    def setup():
        q = torch.randn((1, s, a, d), requires_grad=True, dtype=torch.bfloat16).transpose(1, 2)
        k = torch.randn((1, s, kv, d), requires_grad=True, dtype=torch.bfloat16).transpose(1, 2)
        dq, dk = torch.randn_like(q), torch.randn_like(k)
        cos = torch.randn(1, s, d, dtype=torch.bfloat16); sin = torch.randn(1, s, d, dtype=torch.bfloat16)
        return q, k, dq, dk, cos, sin
    def full(st):
        q, k, dq, dk, cos, sin = st
        qo, ko = hf_rope(q, k, cos, sin)
        torch.autograd.grad((qo, ko), (q, k), (dq, dk), allow_unused=True, retain_graph=True)
    return peak_of(setup, full)

MiB = 2**20
if __name__ != "__main__": pass
elif sys.argv[1] == "rms":
    for N in [1024, 2048, 4096]:
        for p in ["liger", "huggingface"]:
            pk = rms(p, 2048, N); print("rms", p, N, [x / MiB for x in pk], "B/elt", pk[-1] / (2048 * N))
elif sys.argv[1] == "rope":
    for (s, H) in [(1024, 8192), (2048, 512), (2048, 2048)]:
        pk = rope("huggingface", s, H); d = H // 32
        print("rope hf", s, H, [x / MiB for x in pk], "per token KiB", pk[-1] / s / 1024)

if __name__ == "__main__" and sys.argv[1] == "rope-ratios":
    # HF RoPE backward working set vs head ratio: Q + K + max(3K, K + 3Q) beyond q, k, dq, dk, cos, sin.
    for a, kv in [(32, 8), (32, 32), (32, 2), (8, 32)]:
        s, d = 1024, 64
        pk = rope("huggingface", s, a * d, a=a, kv=kv)[-1]
        Q = s * a * d * 2; K = s * kv * d * 2; cs = 2 * s * d * 2
        print(a, kv, "extra / (Q + K + max(3K, K + 3Q)) =", (pk - (2 * Q + 2 * K + cs)) / (Q + K + max(3 * K, K + 3 * Q)))
