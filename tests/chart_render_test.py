#!/usr/bin/env python3
"""Renders `vramcalc sweep --format svg` and `--format html` in headless Chromium and checks
each screenshot: it exists, is a PNG of the window's size, and is not blank (it has many
non-white pixels, and some of the chart's colours).

Usage: chart_render_test.py VRAMCALC OUT_DIR. Exit 77 (ctest: skipped) when no chromium is
installed; .ci/run installs it, so CI always runs this.
"""
import os
import shutil
import struct
import subprocess
import sys
import zlib

WIDTH, HEIGHT = 1000, 700
ARGS = ["sweep", "--model", "llama-3.2-1b", "--gpu", "a100-40gb", "--seq", "1024..16384", "--batch", "1,2"]


def decode_png(path):
    """(width, height, rows of RGB(A) bytes): 8-bit RGB or RGBA, non-interlaced."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def check(png):
    assert os.path.exists(png) and os.path.getsize(png) > 0, f"{png}: no screenshot"
    width, height, bpp, rows = decode_png(png)
    assert (width, height) == (WIDTH, HEIGHT), f"{png}: {width}x{height}, expected {WIDTH}x{HEIGHT}"
    colours, coloured = set(), 0
    for line in rows[::2]:
        for x in range(0, width * bpp, bpp * 2):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if (r, g, b) != (255, 255, 255):
                coloured += 1
                colours.add((r, g, b))
    # The first series' colour (#4e79a7) and the capacity line's (#d00000) are drawn.
    assert coloured > 2000, f"{png}: nearly blank ({coloured} non-white samples)"
    assert (0x4E, 0x79, 0xA7) in colours, f"{png}: no bars of the first series"
    assert (0xD0, 0x00, 0x00) in colours, f"{png}: no capacity line"
    print(f"{png}: {width}x{height}, {coloured} non-white samples, {len(colours)} colours")


def main():
    binary, out_dir = sys.argv[1], sys.argv[2]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIPPED: chromium is not installed (apt-get install chromium; .ci/run installs it)")
        return 77
    os.makedirs(out_dir, exist_ok=True)
    for fmt in ("svg", "html"):
        page = os.path.join(out_dir, f"sweep.{fmt}")
        png = os.path.join(out_dir, f"sweep_{fmt}.png")
        with open(page, "w", encoding="utf-8") as f:
            subprocess.run([binary] + ARGS + ["--format", fmt], check=True, stdout=f)
        if os.path.exists(png):
            os.remove(png)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={os.path.join(out_dir, 'chromium-profile')}",
                        f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", "file://" + os.path.abspath(page)],
                       check=True, capture_output=True, timeout=120)
        check(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
