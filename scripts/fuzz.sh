#!/usr/bin/env bash
# Fuzzes Hotline's parsers with libFuzzer: `scripts/fuzz.sh [SECONDS] [TARGET...]` (default 60 s
# each, every target). Installs cargo-fuzz when missing; stable Rust runs it with RUSTC_BOOTSTRAP=1.
# The SIP target starts from the RFC 4475 torture messages. Findings land in
# fuzz/artifacts/<target>/ and make this script fail.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(phone email redact sip_message rtp_packet media_input flow_source email_message smtp_session)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  max_len=256
  if [ "$target" = sip_message ]; then
    max_len=4096
    mkdir -p corpus/sip_message
    cp "$root"/crates/sip/tests/data/rfc4475/*.dat corpus/sip_message/
  fi
  if [ "$target" = flow_source ]; then
    max_len=4096
    mkdir -p corpus/flow_source
    cp "$root"/crates/flow/flows/*.yaml corpus/flow_source/
  fi
  if [ "$target" = email_message ]; then
    max_len=8192
  fi
  echo "== fuzzing $target for ${seconds}s"
  cargo fuzz run "$target" -- -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048
done
