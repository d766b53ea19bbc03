#!/usr/bin/env bash
# Installs the Debian packages Sluice needs to build, test and run, skipping
# those already present. Safe to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git ca-certificates tzdata procps
  libpqxx-dev libyaml-cpp-dev libcpp-httplib-dev nlohmann-json3-dev libsqlite3-dev
  libgtest-dev libhowardhinnant-date-dev libcli11-dev libssl-dev
  postgresql sqlite3 python3 iproute2
  # The reference that tests/core/template_jinja_test.cc compares templates with.
  python3-jinja2
  # promtool, which tests/web/metrics_test.cc runs over /metrics.
  prometheus
  # The fuzz targets (scripts/fuzz.sh) need clang and its libFuzzer runtime.
  clang libclang-rt-14-dev
)
# The browser test drives Debian's Chromium with playwright-core from npm.
if [ "${SLUICE_NO_BROWSER:-0}" != 1 ]; then
  packages+=(chromium)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
