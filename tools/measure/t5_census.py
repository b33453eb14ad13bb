# T5 saved-tensor census (tools/measure/FINDINGS.md §34; not a harness record): a tiny
# T5ForConditionalGeneration (d_model 64, d_kv 32 x 3 heads, d_ff 128, 2 + 2 layers, V 1000, dropout 0 or dropout=P), fp32,
# b 2, encoder length 64, decoder length 32, labels given. Every tensor saved for backward passes
# torch.autograd.graph.saved_tensors_hooks; unique storages (parameters excluded) are summed per window (the module
# whose forward was entered last). Usage: t5_census.py [eager|sdpa] [relu|gated-gelu] [dropout=P] [-v]
# (with dropout the CPU's aten::dropout saves an e-byte noise tensor per dropout where CUDA's native_dropout saves a bool mask)
import torch, sys, collections
from transformers import T5Config, T5ForConditionalGeneration
torch.manual_seed(0)
attn = sys.argv[1] if len(sys.argv) > 1 else "eager"
ff = sys.argv[2] if len(sys.argv) > 2 else "relu"
b, s_enc, s_dec = 2, 64, 32
p_drop = float(next((a[len("dropout="):] for a in sys.argv if a.startswith("dropout=")), "0.0"))
cfg = T5Config(d_model=64, d_kv=32, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=3, vocab_size=1000,
               feed_forward_proj=ff, dropout_rate=p_drop, relative_attention_num_buckets=16, use_cache=False, decoder_start_token_id=0)
m = T5ForConditionalGeneration._from_config(cfg, attn_implementation=attn).train()
window = ["pre"]
def pre(name):
    def f(mod, *a, **k): window[0] = name
    return f
for i, blk in enumerate(m.encoder.block): blk.register_forward_pre_hook(pre(f"enc{i}"))
for i, blk in enumerate(m.decoder.block): blk.register_forward_pre_hook(pre(f"dec{i}"))
m.encoder.final_layer_norm.register_forward_pre_hook(pre("enc_final"))
m.decoder.final_layer_norm.register_forward_pre_hook(pre("dec_final"))
m.lm_head.register_forward_pre_hook(pre("lm_head"))
m.decoder.embed_tokens.register_forward_pre_hook(pre("dec_embed"))
params = {p.untyped_storage().data_ptr() for p in m.parameters()}
seen = {}  # storage ptr -> (window, nbytes, shape, dtype)
def pack(t):
    st = t.untyped_storage()
    k = st.data_ptr()
    if k not in params and k not in seen:
        seen[k] = (window[0], st.nbytes(), tuple(t.shape), str(t.dtype).replace("torch.", ""))
    return t
ids = torch.randint(2, 1000, (b, s_enc)); labels = torch.randint(2, 1000, (b, s_dec))
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    out = m(input_ids=ids, labels=labels)
tot = collections.Counter()
for k, (w, n, sh, dt) in seen.items():
    tot[w] += n
for w in ["pre", "enc0", "enc1", "enc_final", "dec_embed", "dec0", "dec1", "dec_final", "lm_head"]:
    print(f"{attn} {ff} {w:10s} {tot[w]:>9d}")
if "-v" in sys.argv:
    for k, (w, n, sh, dt) in seen.items(): print(w, n, sh, dt)
