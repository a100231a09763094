#!/usr/bin/env bash
# Regenerates docs/report.png (the README's screenshot): a small run (4 models, untrained weights, the
# built-in synthetic set, one image per subject and action) rendered by headless Chromium at 1280 px.
# Needs Debian's chromium (apt-get install -y chromium). Usage: bash docs/make_screenshot.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)/screenshot-run}"
.venv/bin/pose3dbench run --out "$out" --quiet --limit-per-group 1 --root gt rootnet rootnet-model \
    --model convnextpose-xs --model convnextpose-s --model mobilehumanpose-lpski --model rootnet-r50 >/dev/null
profile="$(mktemp -d)"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars --window-size=1280,1900 \
    --screenshot="$PWD/docs/report.png" "file://$out/report.html" 2>/dev/null
rm -rf "$profile"
echo "docs/report.png from $out/report.html"
