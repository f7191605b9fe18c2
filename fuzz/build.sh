#!/usr/bin/env bash
# Builds (does not run) the Rendezvous fuzz targets; used by CI.
#
# cargo-fuzz needs nightly-only rustc flags (sanitizers); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. cargo-fuzz itself is installed from crates.io when missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

RUSTC_BOOTSTRAP=1 cargo fuzz build "$@"
echo "fuzz targets built: $(cargo fuzz list | tr '\n' ' ')"
