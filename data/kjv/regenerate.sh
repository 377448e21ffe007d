#!/usr/bin/env bash
# Rebuilds data/kjv/kjv.txt.gz from Debian's bible-kjv package (bookworm: bible-kjv 4.38 and its data
# package bible-kjv-text 4.38). Needs the `bible` program: as root, `apt-get install -y bible-kjv`.
# `bible -f` prints each verse on one line ("Ge1:1 In the beginning ..."); the range Gen1:1-Rev22:21 is
# the whole text, 31,102 verses. gzip -n (no name or time stamp) so the file is identical on every machine.
# Read it with Attention.Data.Kjv.Load.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v bible >/dev/null; then
  echo "needs the 'bible' program: apt-get install -y bible-kjv (Debian/Ubuntu)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bible -f "Gen1:1-Rev22:21" > "$work/kjv.txt"
lines=$(wc -l < "$work/kjv.txt")
if [ "$lines" -ne 31102 ]; then echo "expected 31102 verses, got $lines" >&2; exit 1; fi
gzip -n -9 -c "$work/kjv.txt" > "$here/kjv.txt.gz"
echo "wrote $lines verses to $here/kjv.txt.gz (text sha256 $(sha256sum "$work/kjv.txt" | cut -c1-16)...)"
