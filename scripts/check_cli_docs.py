#!/usr/bin/env python3
"""Checks that the man page and shell completions cover every flag the binary accepts.

Usage: check_cli_docs.py BINARY SOURCE_DIR. Also renders the man page with groff -ww (every
warning) when groff is installed and checks the bash completion's syntax with bash -n.
"""
import re
import shutil
import subprocess
import sys


def flags_of(binary, command):
    args = [binary] + ([command] if command else []) + ["--help"]
    text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text.split("Options:", 1)[1]))


def main():
    binary, source = sys.argv[1], sys.argv[2]
    man = open(f"{source}/docs/vramcalc.1", encoding="utf-8").read().replace("\\-", "-")
    bash = open(f"{source}/completions/vramcalc.bash", encoding="utf-8").read()
    zsh = open(f"{source}/completions/_vramcalc", encoding="utf-8").read()
    problems = []
    for command in ["", "fit", "sweep", "models", "gpus", "deepspeed-estimate"]:
        for flag in sorted(flags_of(binary, command)):
            for name, text in [("docs/vramcalc.1", man), ("completions/vramcalc.bash", bash), ("completions/_vramcalc", zsh)]:
                if not re.search(re.escape(flag) + r"(?![\w-])", text):
                    problems.append(f"{name}: {flag} ({command or 'estimate'}) is missing")
    for command in ["estimate", "fit", "sweep", "models", "gpus", "deepspeed-estimate"]:
        for name, text in [("docs/vramcalc.1", man), ("completions/vramcalc.bash", bash), ("completions/_vramcalc", zsh)]:
            if command not in text:
                problems.append(f"{name}: command {command} is missing")
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", f"{source}/docs/vramcalc.1"],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            problems.append(f"docs/vramcalc.1: groff -ww: {r.stderr.strip()}")
    r = subprocess.run(["bash", "-n", f"{source}/completions/vramcalc.bash"], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"completions/vramcalc.bash: {r.stderr.strip()}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
