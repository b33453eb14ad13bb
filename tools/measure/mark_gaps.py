#!/usr/bin/env python3
"""Marks the records of a measured-data file that the current estimator misses beyond tolerance with
`"known_gap": {"error_pct": ..., "finding": "FINDINGS.md#anchor"}`, by the rules below (one per finding in
tools/measure/FINDINGS.md), and removes known_gap from records that are now within tolerance. A miss that no
rule explains is printed and left unmarked, so the accuracy test fails on it until it is analysed.

    python3 tools/measure/mark_gaps.py tests/data/measured/hf_cpu.json [--report build/tests/accuracy_report]

The estimator's predictions come from build/tests/accuracy_report --tsv (the C++ accuracy code itself).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _id(pattern):
    rx = re.compile(pattern)
    return lambda r, pred, meas: bool(rx.search(r["id"]))


def _all(*preds):
    return lambda r, pred, meas: all(p(r, pred, meas) for p in preds)


def _metric(*names):
    return lambda r, pred, meas: r["metric"] in names


def _phase(*names):
    return lambda r, pred, meas: r["phase"] in names


def _window(prefix):
    return lambda r, pred, meas: str(r.get("detail", {}).get("peak_window", "")).startswith(prefix)


def _over():
    return lambda r, pred, meas: pred > meas


def _under():
    return lambda r, pred, meas: pred < meas


def _diff(nbytes):
    return lambda r, pred, meas: meas - pred == nbytes


def _layers(r):
    return r["model"].get("num_hidden_layers") or r["model"]["n_layer"]


def _gelu_new_extra(r):
    """6·T·I: what CUDA autocast's fp32 pow adds to a gelu_new layer over CPU autocast (FINDINGS.md §14)."""
    m, st = r["model"], r["setup"]
    h = m.get("hidden_size", m.get("n_embd"))
    return 6 * st["seq"] * st["batch"] * (m.get("intermediate_size", m.get("n_inner")) or 4 * h)


def _gelu_new_amp():
    """pred − meas = 6·T·I (CUDA's fp32 pow), less Phi's CPU SDPA output copy (2·T·h, finding 2) with SDPA."""
    def check(r, pred, meas):
        m, st = r["model"], r["setup"]
        copy = 2 * st["seq"] * st["batch"] * m.get("hidden_size", 0) if "-phi-" in r["id"] and "-sdpa-" in r["id"] else 0
        return pred - meas == _gelu_new_extra(r) - copy
    return check


# (anchor in FINDINGS.md, predicate(record, predicted, measured)); first match wins.
RULES = [
    ("head-nll-total-weight", _all(_metric("saved_head"), _diff(4))),
    ("gelu-new-cpu-autocast", _all(_metric("saved_per_layer"), _id(r"-(gpt2|phi)-.*-amp-"), _gelu_new_amp())),
    ("gelu-new-cpu-autocast", _all(_metric("allocated"), _id(r"-(gpt2|phi)-.*-amp-"), _over(),
                                   lambda r, pred, meas: pred - meas <= 1.02 * _layers(r) * _gelu_new_extra(r))),
    ("partial-rotary-sdpa-output-copy", _all(_metric("saved_per_layer"), _id(r"-(phi3|phi|gpt_neox)-.*-sdpa-ckptnone-"), _under())),
    ("cpu-layernorm-stats", _all(_metric("saved_per_layer", "saved_head"), _id(r"-(gpt_neox|falcon)-.*-bf16-"), _over(),
                                 lambda r, pred, meas: pred - meas < 0.002 * meas)),
    # issue 14's LayerNorm families: exactly 4·T bytes per LayerNorm (2 per layer at most, 1 in the head)
    ("cpu-layernorm-stats", _all(_metric("saved_per_layer", "saved_head"), _id(r"-(gpt2|phi|starcoder2|bloom|bert|roberta)-.*-bf16-"),
                                 lambda r, pred, meas: (pred - meas) in
                                 (4 * k * r["setup"]["seq"] * r["setup"]["batch"] for k in (1, 2)))),
    ("falcon-transformers-5-24", _all(_metric("saved_per_layer"), _id(r"-falcon-"), _over())),
    ("selective-core-attention", _all(_metric("saved_per_layer"), _id(r"-ckptselective-"))),
    ("sdpa-mask-repeat-kv", _all(_metric("saved_per_layer"), _id(r"-sdpa-.*-mask(padding|packed)"), _under())),
    ("eager-attention-backward", _all(_metric("allocated"), _phase("backward", "peak"), _id(r"-eager-"), _over())),
    ("eager-mask-lifetime", _all(_metric("allocated"), _phase("forward", "peak"), _id(r"-eager-ckptnone-"),
                                 _over(), _window("fw."))),
    ("eager-mask-lifetime", _all(_metric("allocated"), _phase("backward", "peak"), _id(r"-eager-ckptfull-"),
                                 _under())),
    ("eager-forward-scores", _all(_metric("allocated"), _phase("forward", "peak"), _id(r"-eager-ckptfull-"),
                                  _under(), _window("fw.L"))),
    ("moe-aux-loss-cpu-autocast", _all(_metric("saved_head"), _id(r"-amp-.*-auxloss"), _over())),
    # issue 14's encoders: CPU autocast keeps softmax and the MLM head's LayerNorm in bf16 (FINDINGS.md §23)
    ("encoder-cpu-autocast", _all(_metric("saved_per_layer"), _id(r"-(bert|roberta)-.*-amp-eager-"),
                                  lambda r, pred, meas: pred - meas == 4 * _heads(r) * r["setup"]["seq"] ** 2 * r["setup"]["batch"])),
    ("encoder-cpu-autocast", _all(_metric("saved_head"), _id(r"-(bert|roberta)-.*-amp-.*-mlm$|-(bert|roberta)-.*-amp-.*-mlm-head$"),
                                  lambda r, pred, meas: pred - meas == 2 * r["setup"]["seq"] * r["setup"]["batch"] * r["model"]["hidden_size"])),
    ("encoder-cpu-autocast", _all(_metric("allocated"), _id(r"-(bert|roberta)-.*-amp-eager-"), _over(),
                                  lambda r, pred, meas: pred - meas <= (_layers(r) + 1) * 4 * _heads(r) * r["setup"]["seq"] ** 2 * r["setup"]["batch"])),
    ("encoder-cls-amp-sdpa-forward", _all(_metric("allocated"), _phase("forward", "peak"),
                                          _id(r"-(bert|roberta)-.*-amp-sdpa-.*-seq-cls"), _under())),
    ("encoder-id-buffers", _all(_metric("allocated"), _phase("load"), _id(r"-(bert|roberta)-"),
                                lambda r, pred, meas: meas - pred == 16 * r["model"]["max_position_embeddings"])),
    # issue 14's T5: CPU autocast keeps the cross-attention's softmax in bf16, CUDA's runs it in fp32 (+4·b·a·s_d·s_e per
    # decoder block; FINDINGS.md §34)
    ("t5-cpu-autocast", _all(_metric("saved_per_layer"), _phase("decoder_layer"), _id(r"-t5-.*-amp-eager-"),
                             lambda r, pred, meas: pred - meas == 4 * r["model"]["num_heads"] * r["setup"]["batch"] *
                             r["setup"]["seq"] * r["setup"]["target_seq"])),
    # T5's dropout: the CPU's aten::dropout saves e-byte noise (input * noise) where CUDA's native_dropout saves a 1-byte
    # bool mask, at the same places (FINDINGS.md §34 Dropout): exactly (e - 1) B more per dropout element in the saved
    # records; the phase records within tolerance once those bytes are added
    ("t5-dropout", _all(_id(r"-t5-.*-drop0\.1-"), _metric("saved_per_layer", "saved_head"),
                        lambda r, pred, meas: meas - pred == _t5_noise_extra(r, r["phase"]))),
    ("t5-dropout", _all(_id(r"-t5-.*-drop0\.1-"), _metric("allocated"), _phase("forward", "backward", "peak"),
                        lambda r, pred, meas: abs(pred + _t5_noise_extra(r, "all") - meas) <= r["tolerance_pct"] / 100 * meas)),
]


def _t5_noise_extra(r, phase):
    """(e - 1) x the dropout elements of an encoder block, a decoder block, the head, or the whole model ("all")."""
    m, s = r["model"], r["setup"]
    e = {"fp32": 4, "bf16": 2}[s["precision"]]
    b, a, h, i = s["batch"], m["num_heads"], m["d_model"], m["d_ff"]
    se, sd = s["seq"], s["target_seq"]
    te, td = b * se, b * sd
    enc = b * a * se * se + 2 * te * h + te * i
    dec = b * a * sd * sd + b * a * sd * se + 3 * td * h + td * i
    n = {"layer": enc, "decoder_layer": dec, "head": td * h,
         "all": m["num_layers"] * enc + m["num_decoder_layers"] * dec + 2 * te * h + 2 * td * h}[phase]
    return (e - 1) * n


def _heads(r):
    return r["model"]["num_attention_heads"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--report", default=os.path.join(ROOT, "build/tests/accuracy_report"))
    a = ap.parse_args(argv)
    with open(a.data) as f:
        doc = json.load(f)
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(a.data, os.path.join(d, os.path.basename(a.data)))
        out = subprocess.run([a.report, d, "--tsv"], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        rid, split, pred, meas, err, tol, ok = line.split("\t")
        rows[rid] = (float(pred), float(meas), float(err), ok == "ok")
    marked, cleared, unexplained = {}, 0, []
    for r in doc["records"]:
        if r["id"] not in rows:
            continue
        pred, meas, err, ok = rows[r["id"]]
        if ok:
            if r.pop("known_gap", None) is not None:
                cleared += 1
            continue
        for anchor, pr in RULES:
            if pr(r, pred, meas):
                r["known_gap"] = {"error_pct": round(err, 3), "finding": f"FINDINGS.md#{anchor}"}
                marked[anchor] = marked.get(anchor, 0) + 1
                break
        else:
            r.pop("known_gap", None)
            unexplained.append((r["id"], pred, meas, err))
    sys.path.insert(0, HERE)
    from hf_measure import dump
    dump(doc, a.data)
    for k, n in marked.items():
        print(f"{n:5d} known gaps: {k}")
    print(f"{cleared} gaps cleared; {len(unexplained)} misses without a rule:")
    for u in unexplained:
        print("   %s predicted %d measured %d error %+.3f%%" % u)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
