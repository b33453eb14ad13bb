#!/usr/bin/env python3
"""Regenerates the example outputs in README.md and docs/json.md by running vramcalc.

Each example is a block

    <!-- example: vramcalc ARGS -->
    ```text
    (output)
    ```
    <!-- /example -->

and its output is replaced by what `vramcalc ARGS` prints now. With --check nothing is
written and the exit status is 1 when an example is out of date (the test suite runs this).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

BLOCK = re.compile(r"(<!-- example: vramcalc (?P<args>.*?) -->\n```(?P<lang>\w*)\n)(?P<body>.*?)(```\n<!-- /example -->)", re.S)


def run(binary, args):
    head = None
    m = re.search(r"\s*\|\s*head -(\d+)$", args)
    if m:  # "ARGS | head -N": keep the first N lines
        head = int(m.group(1))
        args = args[: m.start()]
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run([binary] + shlex.split(args), capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 1):
        sys.exit(f"vramcalc {args}: exit {proc.returncode}: {proc.stderr.strip()}")
    if head is not None:
        return "".join(proc.stdout.splitlines(keepends=True)[:head])
    return proc.stdout


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "build", "vramcalc"))
    parser.add_argument("files", nargs="*", default=[os.path.join(here, "..", "README.md"), os.path.join(here, "..", "docs", "json.md")])
    parser.add_argument("--check", action="store_true")
    opts = parser.parse_args()
    stale = []
    total = 0

    def replace(m):
        out = run(opts.binary, m.group("args"))
        if out != m.group("body"):
            stale.append(m.group("args"))
        return m.group(1) + out + m.group(5)

    for path in opts.files:
        text = open(path, encoding="utf-8").read()
        total += len(BLOCK.findall(text))
        new = BLOCK.sub(replace, text)
        if not opts.check and new != text:
            open(path, "w", encoding="utf-8").write(new)
    if opts.check:
        if stale:
            print("examples out of date (run scripts/gen_readme.py):", *stale, sep="\n  ")
            return 1
        print(f"examples current ({total} checked)")
        return 0
    print(f"updated {len(stale)} of {total} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
