#!/usr/bin/env bash
# The whole Hotline test suite, from a fresh machine:
#   1. installs what it needs when missing (Debian: postgresql, python3-venv, curl, sip-tester
#      (SIPp), baresip, linphone-cli, espeak-ng (speech for prompts and the DTMF talk-off test), chromium and
#      nodejs/npm (the workplace's browser test), postfix and dovecot (the e-mail test runs its
#      own instances on loopback ports); sipvicious from PyPI in a venv; playwright-core
#      from npm into web/tests (it drives Debian's chromium; no browser is downloaded);
#   2. starts a throwaway PostgreSQL on 127.0.0.1 and a free port;
#   3. cargo fmt --check, cargo clippy -D warnings;
#   4. cargo test for the whole workspace, the storage conformance suite on SQLite AND PostgreSQL;
#   5. the SIP parser and the media inputs fuzzed for a bounded time (cargo-fuzz installed
#      when missing);
#   6. Schemathesis against `hotline serve --demo`, once on SQLite and once on PostgreSQL.
# Everything listens on 127.0.0.1 and every step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/.test-work"
mkdir -p "$work"

say() { printf '\n== %s\n' "$*"; }

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need_apt+=(baresip)
# linphone's console phone: the attended transfer from the phone (baresip 1.0 has none).
command -v linphonec >/dev/null 2>&1 || need_apt+=(linphone-cli)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v postfix >/dev/null 2>&1 || need_apt+=(postfix)
command -v dovecot >/dev/null 2>&1 || need_apt+=(dovecot-imapd dovecot-lmtpd)
# The mail servers' test certificates.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need_apt[*]}; run as root or install them first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks what kind of mail system this is; the tests run their own configuration.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install the Rust toolchain (rust-version in Cargo.toml)" >&2; exit 1; }

say "starting a throwaway PostgreSQL"
# Under /tmp, not the checkout: the `postgres` user must be able to reach the folder, and a
# checkout under /root is not reachable for it.
pg_dir=$(mktemp -d /tmp/hotline-test-pg.XXXXXX)
chmod 755 "$pg_dir"
pg_url=$(scripts/postgres.sh start "$pg_dir")
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
echo "$pg_url"
export HOTLINE_TEST_POSTGRES_URL="$pg_url"
export HOTLINE_REQUIRE_POSTGRES=1
# SIP interop tests fail, rather than skip, without SIPp, baresip and SIPVicious.
export HOTLINE_REQUIRE_SIP_PEERS=1
# The e-mail test fails, rather than skips, without postfix and dovecot (it starts its own
# instances on loopback ports with private configurations).
export HOTLINE_REQUIRE_MAIL_PEERS=1

# SIPVicious (the scanners the defences are tested against), pinned, in a venv of its own.
sv_venv="$work/sipvicious"
if [ ! -x "$sv_venv/bin/sipvicious_svwar" ]; then
  say "installing sipvicious 0.3.8 into $sv_venv"
  python3 -m venv "$sv_venv"
  timeout 300 "$sv_venv/bin/pip" install -q "sipvicious==0.3.8"
fi
export HOTLINE_SIPVICIOUS="$sv_venv"

# playwright-core as web/tests/package-lock.json pins it; the browser test fails, rather than
# skips, without it or chromium. Screenshots of every screen land in .test-work/screenshots.
if [ ! -f web/tests/node_modules/playwright-core/package.json ]; then
  say "installing playwright-core into web/tests"
  (cd web/tests && timeout 300 npm ci --no-audit --no-fund)
fi
export HOTLINE_REQUIRE_BROWSER=1
export HOTLINE_SCREENSHOTS="$work/screenshots"

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test (storage conformance on SQLite and PostgreSQL, API, SIP with SIPp and baresip, binary)"
timeout 1800 cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$work/cargo-test.log"
passed=$(grep -E '^test result:' "$work/cargo-test.log" | awk '{s+=$4} END {print s+0}')

say "fuzzing the SIP parser for 30 s (libFuzzer, seeded with the RFC 4475 messages), RTP/RTCP, the media inputs (SDP, WAV, DTMF, relay), flow files, e-mail messages and SMTP sessions for 15 s each"
timeout 1500 scripts/fuzz.sh 30 sip_message 2>&1 | tail -n 3
timeout 900 scripts/fuzz.sh 15 rtp_packet 2>&1 | tail -n 3
timeout 900 scripts/fuzz.sh 15 media_input 2>&1 | tail -n 3
timeout 900 scripts/fuzz.sh 15 flow_source 2>&1 | tail -n 3
timeout 900 scripts/fuzz.sh 15 email_message 2>&1 | tail -n 3
timeout 900 scripts/fuzz.sh 15 smtp_session 2>&1 | tail -n 3

say "Schemathesis against the served OpenAPI document (SQLite)"
cargo build --locked -p hotline
rm -rf "$work/st"
timeout 900 scripts/schemathesis.sh target/debug/hotline "$work/st"

say "Schemathesis against the served OpenAPI document (PostgreSQL)"
pg_base=${pg_url%/*}
psql "$pg_url" -qc "DROP DATABASE IF EXISTS hotline_schemathesis" -c "CREATE DATABASE hotline_schemathesis"
timeout 900 scripts/schemathesis.sh target/debug/hotline "$work/st" "$pg_base/hotline_schemathesis"

say "all tests passed"
echo "tests: $passed passed, 0 failed"
