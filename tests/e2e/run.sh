#!/usr/bin/env bash
# Browser end-to-end tests for Rendezvous: headless Chromium (Debian's /usr/bin/chromium) driven by
# playwright-core, against `rendezvous serve` processes started on free loopback ports.
#
#   tests/e2e/run.sh                 # every *.test.mjs
#   tests/e2e/run.sh call glare      # only call.test.mjs and glare.test.mjs
#
# RENDEZVOUS_BIN: the server binary (default target/debug/rendezvous, relative to the repo root).
# CHROMIUM: the browser (default /usr/bin/chromium). Screenshots and logs go to tests/e2e/artifacts/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${RENDEZVOUS_BIN:-target/debug/rendezvous}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
export RENDEZVOUS_BIN="$bin"

if [[ ! -x "$RENDEZVOUS_BIN" ]]; then
  echo "e2e: server binary $RENDEZVOUS_BIN not found; build it with: cargo build -p rendezvous" >&2
  exit 1
fi
if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "e2e: ${CHROMIUM:-/usr/bin/chromium} not found; install it with: apt-get install -y chromium" >&2
  exit 1
fi

cd "$here"
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p artifacts

if [[ $# -gt 0 ]]; then
  files=()
  for name in "$@"; do files+=("${name%.test.mjs}.test.mjs"); done
else
  files=(*.test.mjs)
fi

failed=()
start=$SECONDS
for file in "${files[@]}"; do
  echo "=== $file"
  if ! node --test --test-reporter=spec "$file"; then
    failed+=("$file")
  fi
done
echo "=== e2e: ${#files[@]} file(s) in $((SECONDS - start)) s; ${#failed[@]} failed${failed:+: ${failed[*]}}"
[[ ${#failed[@]} -eq 0 ]]
