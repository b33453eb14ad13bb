# Saved-tensor bytes of a tiny BertForMaskedLM / RobertaForMaskedLM per encoder layer and outside them
# (saved_tensors_hooks, storages counted once, parameters excluded; the position_ids buffer view is
# listed but is no new allocation). Usage: python encoder_saved.py bert|roberta sdpa|eager
# Numbers asserted in tests/activations_test.cpp "BERT and RoBERTa MLM save what transformers 5.24 saves".
import torch, sys
from transformers import BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM
fam = sys.argv[1]; attn = sys.argv[2]
kw = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation=attn)
if fam == "bert": model = BertForMaskedLM(BertConfig(**kw))
else: model = RobertaForMaskedLM(RobertaConfig(max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, **kw))
model.train()
b, s = 2, 32
ids = torch.randint(5, 1000, (b, s)); labels = ids.clone()
seen = {}; cur = ["outside"]
def pack(t):
    st = t.untyped_storage(); key = st.data_ptr()
    if key not in seen and st.nbytes() > 0: seen[key] = (cur[0], st.nbytes(), tuple(t.shape), t.dtype)
    return t
layers = model.base_model.encoder.layer
for i, l in enumerate(layers):
    l.register_forward_pre_hook(lambda m, a, i=i: cur.__setitem__(0, f"layer{i}"))
    l.register_forward_hook(lambda m, a, o: cur.__setitem__(0, "outside"))
# exclude parameters
params = {p.untyped_storage().data_ptr() for p in model.parameters()}
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    out = model(input_ids=ids, labels=labels)
tot = {}
for k, (where, n, shp, dt) in seen.items():
    if k in params: continue
    tot[where] = tot.get(where, 0) + n
    if where != "layer1": print(where, n, shp, dt)
print(tot)
