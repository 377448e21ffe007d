#!/usr/bin/env bash
# Rebuilds data/speech/digits.bin.gz: the ten digit words spoken alone by Debian's espeak-ng (package espeak-ng
# 1.51+dfsg-10+deb12u2) in 6 voices × 3 speeds × 3 pitches = 540 clips, leading and trailing silence trimmed,
# stored as 8-bit mu-law (ITU-T G.711) at espeak-ng's 22,050 Hz. Utterances ("three one four") are made from these
# clips in C# with random pauses between words, so the word boundaries (the gold alignment) are exact.
# Needs espeak-ng (apt-get install espeak-ng) and python3. Layout (little-endian): "ATTNSPCH", int32 sample rate,
# int32 clip count, then per clip: byte digit (0-9), byte voice index, int16 speed (words per minute), int16 pitch
# (0-99), int32 sample count, that many mu-law bytes. gzip -n, so the same espeak-ng build writes the same bytes.
# Read it with Attention.Data.SpokenDigits.Load.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v espeak-ng >/dev/null || { echo "espeak-ng not found: apt-get install espeak-ng" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/make.py" <<'PY'
import os, struct, subprocess, sys, wave
words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
voices = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb-x-rp+m3"]
speeds, pitches = [130, 165, 200], [30, 50, 70]
work, out = sys.argv[1], sys.argv[2]

def mulaw(sample):                      # G.711 mu-law of one 16-bit sample, the classic segment encoder
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent, mask = 7, 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1; mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF

rate, clips = None, []
for vi, voice in enumerate(voices):
    for speed in speeds:
        for pitch in pitches:
            for digit, word in enumerate(words):
                path = os.path.join(work, "clip.wav")
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, word], check=True)
                with wave.open(path) as w:
                    assert w.getnchannels() == 1 and w.getsampwidth() == 2, voice
                    rate = rate or w.getframerate()
                    assert w.getframerate() == rate, voice
                    samples = struct.unpack(f"<{w.getnframes()}h", w.readframes(w.getnframes()))
                loud = [i for i, s in enumerate(samples) if abs(s) > 300]   # trim silence: first to last sample above ~1% of full scale
                assert loud, f"{voice} {speed} {pitch} {word}: silent clip"
                trimmed = samples[loud[0]:loud[-1] + 1]
                clips.append(struct.pack("<BBhhi", digit, vi, speed, pitch, len(trimmed)) + bytes(mulaw(s) for s in trimmed))
with open(out, "wb") as f:
    f.write(b"ATTNSPCH" + struct.pack("<ii", rate, len(clips)))
    for c in clips: f.write(c)
print(len(clips), rate)
PY
result=$(python3 "$work/make.py" "$work" "$work/digits.bin")
gzip -n -9 -c "$work/digits.bin" > "$here/digits.bin.gz"
echo "wrote $result (clips, Hz) to $here/digits.bin.gz ($(stat -c %s "$here/digits.bin.gz") bytes; unpacked sha256 $(sha256sum "$work/digits.bin" | cut -c1-16)...)"
