#!/usr/bin/env bash
# Renders an eval report (eval/reports/llm_eval.html) in headless Chromium: writes a screenshot
# (1280×2000) to OUT.png and prints the ids of the rendered DOM's sections, one a line (the run
# ids, newest first). Exits 1 when no Chromium is installed or nothing rendered.
#   scripts/check-report.sh REPORT.html OUT.png
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 2
fi
report=$1
shot=$2
if [ ! -f "$report" ]; then
    echo "check-report: no such report: $report" >&2
    exit 1
fi

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$(command -v "$candidate")
        break
    fi
done
if [ -z "$browser" ]; then
    echo "check-report: no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)" >&2
    exit 1
fi

url="file://$(realpath "$report" | sed 's/%/%25/g; s/ /%20/g; s/#/%23/g; s/?/%3F/g')"
mkdir -p "$(dirname "$shot")"
shot=$(realpath "$shot")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --disable-gpu --no-sandbox --hide-scrollbars --no-first-run --user-data-dir="$profile")

rm -f "$shot"
timeout 120 "$browser" "${flags[@]}" --screenshot="$shot" --window-size=1280,2000 "$url" >/dev/null 2>&1 || true
if [ ! -s "$shot" ] || [ "$(head -c 4 "$shot" | od -An -tx1 | tr -d ' \n')" != "89504e47" ]; then
    echo "check-report: $browser wrote no PNG screenshot to $shot" >&2
    exit 1
fi

dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" 2>/dev/null || true)
ids=$(printf '%s' "$dom" | grep -o '<section[^>]* id="[^"]*"' | sed 's/.* id="\([^"]*\)"$/\1/' || true)
if [ -z "$ids" ]; then
    echo "check-report: the rendered DOM of $report has no section with an id" >&2
    exit 1
fi
printf '%s\n' "$ids"
echo "check-report: $(printf '%s\n' "$ids" | wc -l) sections, $(printf '%s' "$dom" | grep -o '<svg' | wc -l) charts; screenshot $shot" >&2
