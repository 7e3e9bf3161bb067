#!/usr/bin/env bash
# Prints tests/Dfer.Tests/Repository/long-lines.txt for the current tree: each tracked C# file with lines
# over 120 characters (UTF-16 code units, as C#'s string.Length counts them) and their count.
# LineLengthTests holds files to these counts (see .editorconfig).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# C# files with lines over 120 characters, and how many (LineLengthTests: counts may only go down)."
echo "# After wrapping lines: scripts/long-lines.sh > tests/Dfer.Tests/Repository/long-lines.txt"
git ls-files -z --cached --others --exclude-standard -- '*.cs' | python3 -c '
import sys
for f in sorted(p for p in sys.stdin.read().split("\0") if p):
    try:
        lines = open(f, encoding="utf-8-sig").read().split("\n")
    except FileNotFoundError:
        continue
    n = sum(1 for l in lines if len(l.rstrip("\r").encode("utf-16-le")) // 2 > 120)
    if n:
        print(f, n)
'
