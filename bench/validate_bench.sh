#!/usr/bin/env bash
# `sluice dags validate` on 1,000 generated DAG files of 20 tasks each, cold
# (a new process each time). Target: under 1 s on a 2-core machine.
# Usage: bench/validate_bench.sh [RUNS]   (default 5; the median is reported)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
scripts/build.sh release sluice >/dev/null
sluice=$PWD/build/sluice
work=$(mktemp -d /tmp/sluice-validate.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dags"
for i in $(seq 0 999); do
  {
    echo "dag: bench_$i"
    echo "description: generated DAG $i"
    echo "schedule: \"$((i % 60)) $((i % 24)) * * *\""
    echo "timezone: Europe/Berlin"
    echo "start_date: 2026-01-01"
    echo "params: {country: us}"
    echo "defaults: {retries: 2, retry_delay: 30s, timeout: 1h}"
    echo "tasks:"
    echo "  - id: t0"
    echo "    type: shell"
    echo "    command: \"echo start {{ ds }} {{ params.country }}\""
    for t in $(seq 1 19); do
      echo "  - id: t$t"
      echo "    type: shell"
      echo "    depends_on: [t$((t - 1))]"
      echo "    command: \"echo {{ ds_nodash }} {{ outputs.t$((t - 1)).x | default('none') }} | tr a-z A-Z\""
    done
  } >"$work/dags/dag_$i.yaml"
done
times=()
for r in $(seq 1 "$runs"); do
  s=$(date +%s%N)
  "$sluice" dags validate "$work/dags" >/dev/null
  e=$(date +%s%N)
  times+=($(( (e - s) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( ${#sorted[@]} / 2 ))]}
printf 'dags validate, 1000 files x 20 tasks (cold process, median of %d)\n' "$runs"
printf '  measured: %d ms   target: < 1000 ms   runs: %s ms\n' "$median" "${times[*]}"
