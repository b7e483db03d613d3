#!/usr/bin/env bash
# Fuzzes the text parsers of hotline-model with libFuzzer for SECONDS each (default 60).
# Installs cargo-fuzz when missing; stable Rust runs it with RUSTC_BOOTSTRAP=1.
# Findings land in fuzz/artifacts/<target>/ and make this script fail.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in phone email redact; do
  echo "== fuzzing $target for ${seconds}s"
  cargo fuzz run "$target" -- -max_total_time="$seconds" -max_len=256 -rss_limit_mb=2048
done
