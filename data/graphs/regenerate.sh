#!/usr/bin/env bash
# Rebuilds data/graphs/ from two npm packages: Zachary's karate club from graphology-generators@0.11.2
# (social/karate-club.js: a 34×34 adjacency matrix and the members of Mr. Hi's club) and the Les Misérables
# co-occurrence graph from vega-datasets@3.2.1 (data/miserables.json: 77 characters in 11 groups, 254 weighted links).
# Needs npm and node (18+). Writes plain TSV, one node or one edge per line, so a diff shows any change:
#   karate-nodes.tsv      id<TAB>club            (club: "Mr. Hi" or "Officer")
#   karate-edges.tsv      u<TAB>v                (undirected, u < v, sorted)
#   miserables-nodes.tsv  id<TAB>name<TAB>group
#   miserables-edges.tsv  u<TAB>v<TAB>weight     (undirected, u < v, sorted)
# Read them with Attention.Data.Graphs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent graphology-generators@0.11.2 vega-datasets@3.2.1 >/dev/null
mkdir g v
tar xzf graphology-generators-0.11.2.tgz -C g
tar xzf vega-datasets-3.2.1.tgz -C v
cp g/package/LICENSE.txt "$here/LICENSE.graphology-generators"
cat > extract.js <<'JS'
const fs = require('fs')
// The karate module needs graphology-utils; its data are plain literals, so read them from the source instead.
const src = fs.readFileSync('g/package/social/karate-club.js', 'utf8')
const rows = [...src.match(/var DATA = \[([\s\S]*?)\];/)[1].matchAll(/'([01]+)'/g)].map(m => m[1])
const club1 = new Set(src.match(/var CLUB1 = new Set\(\[([\s\S]*?)\]\)/)[1].split(',').map(s => Number(s.trim())))
if (rows.length !== 34 || rows.some(r => r.length !== 34)) throw new Error('karate: expected a 34×34 matrix')
const out = (name, lines) => fs.writeFileSync(process.argv[2] + '/' + name, lines.join('\n') + '\n')
out('karate-nodes.tsv', rows.map((_, i) => `${i}\t${club1.has(i) ? 'Mr. Hi' : 'Officer'}`))
const karate = []
for (let i = 0; i < 34; i++)
  for (let j = i + 1; j < 34; j++) {
    if (rows[i][j] !== rows[j][i]) throw new Error(`karate: matrix not symmetric at ${i},${j}`)
    if (rows[i][j] === '1') karate.push(`${i}\t${j}`)
  }
out('karate-edges.tsv', karate)
const mis = JSON.parse(fs.readFileSync('v/package/data/miserables.json', 'utf8'))
out('miserables-nodes.tsv', mis.nodes.map((n, i) => { if (n.index !== i) throw new Error('miserables: index order'); return `${i}\t${n.name}\t${n.group}` }))
const links = mis.links.map(l => [Math.min(l.source, l.target), Math.max(l.source, l.target), l.value])
links.sort((a, b) => a[0] - b[0] || a[1] - b[1])
out('miserables-edges.tsv', links.map(l => l.join('\t')))
console.log(`karate: 34 nodes, ${karate.length} edges; miserables: ${mis.nodes.length} nodes, ${links.length} links`)
JS
node extract.js "$here"
