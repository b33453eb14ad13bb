#!/usr/bin/env bash
# Creates .venv-measure/ at the repository root with the pinned CPU environment of tools/measure
# (torch, transformers, peft, accelerate). One command:  tools/measure/setup.sh
# Installs every pin of requirements.txt with --no-deps (no nvidia-*/triton wheels), then checks that
# torch imports and builds a transformers model on the CPU. Re-running it reuses the existing venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-measure"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then "$py" -m venv "$venv"; fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$root/tools/measure/requirements.txt"
"$venv/bin/python" - <<'PY'
import torch, transformers, peft, accelerate
from transformers import AutoConfig, AutoModelForCausalLM
cfg = AutoConfig.for_model("llama", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, vocab_size=64)
m = AutoModelForCausalLM.from_config(cfg)
ids = torch.randint(0, 64, (1, 8))
m(input_ids=ids, labels=ids).loss.backward()
print(f"ok: torch {torch.__version__} (cuda build {torch.version.cuda}, cuda available {torch.cuda.is_available()}), "
      f"transformers {transformers.__version__}, peft {peft.__version__}, accelerate {accelerate.__version__}")
PY
