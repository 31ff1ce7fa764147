#!/usr/bin/env python3
"""Keeps the pages in docs/ up to date: replaces what stands between a page's
`<!-- NAME:begin -->` and `<!-- NAME:end -->` lines with new text, and leaves the rest.

    scripts/replace_section.py PAGE NAME < text       (scripts/results, scripts/fuzz)
    from replace_section import replace_section        (scripts/bench_vs_torch.py)
"""
import os
import sys


def replace_section(path, name, text):
    page = open(path, encoding="utf-8").read()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if page.count(begin) != 1 or page.count(end) != 1 or page.index(begin) > page.index(end):
        sys.exit(f"{path}: expected one {begin} line before one {end} line")
    head, rest = page.split(begin, 1)
    tail = rest.split(end, 1)[1]
    body = text if text.endswith("\n") else text + "\n"
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        out.write(head + begin + "\n" + body + end + tail)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: scripts/replace_section.py PAGE NAME < text")
    replace_section(sys.argv[1], sys.argv[2], sys.stdin.read())
