#!/usr/bin/env bash
# Formatting and width: `swift format lint` with the repo's .swift-format (4 spaces, 120
# columns) must be clean, and no Swift line may pass the configured width (swift format leaves
# long string literals alone, so the width is checked here too). Fix with:
#   swift format format --in-place --recursive Sources Tests
# and wrap a long literal into a multi-line one with `\` line continuations.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
width="$(sed -n 's/.*"lineLength" *: *\([0-9]*\).*/\1/p' .swift-format)"
echo "==> swift format lint (.swift-format, ${width} columns)" >&2
swift format lint --strict --recursive Sources Tests
# Characters, not bytes (a UTF-8 locale): "≤" is one column.
long="$(find Sources Tests -name '*.swift' -print0 | LC_ALL=C.UTF-8 xargs -0 grep -nE "^.{$((width + 1)),}\$" || true)"
if [ -n "$long" ]; then
  echo "$long" | cut -c1-160 >&2
  echo "error: the lines above are longer than ${width} columns (.swift-format's lineLength)." >&2
  exit 1
fi
