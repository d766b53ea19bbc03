#!/usr/bin/env bash
# Scheduler benchmarks (issue C), figures side by side with their references:
#   1. a chain of 1,000 `true` tasks: standalone on SQLite vs GNU make (target ratio <= 2.0)
#   2. the same chain on Postgres with a separate worker process (target ratio <= 3.0)
#   3. hop latency, a task's end to its downstream's start, p50 / p99 (targets 5 ms / 50 ms),
#      and start to start beside make running the same commands (what a hop adds to make's)
#   4. fan-out: 10,000 independent `true` tasks, 8 slots vs make -j8 (target >= 50% of make)
#   5. idle: a scheduler with 1,000 DAGs and nothing due: CPU over 30 s and RSS
# Usage: bench/scheduler_bench.sh [--quick]   (--quick: 1 repetition, 10 s idle window)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
reps=5
idle_secs=30
if [ "${1:-}" = --quick ]; then reps=1; idle_secs=10; fi

scripts/build.sh release sluice >/dev/null
sluice=$root/build/sluice
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { python3 -c 'import sys,statistics; print(statistics.median([float(x) for x in sys.argv[1:]]))' "$@"; }

# --- workloads -------------------------------------------------------------
mkdir -p "$work/chain/dags" "$work/fan/dags" "$work/idle/dags"
{
  echo "dag: chain"; echo "schedule: null"; echo "tasks:"
  echo "  - {id: t0, type: shell, command: \"true\"}"
  for i in $(seq 1 999); do echo "  - {id: t$i, type: shell, command: \"true\", depends_on: [t$((i-1))]}"; done
} >"$work/chain/dags/chain.yaml"
# The hop chain: each task prints when its process started (ns).
{
  echo "dag: hop"; echo "schedule: null"; echo "tasks:"
  echo "  - {id: t0, type: shell, command: \"date +%s%N >>$work/hop_starts\"}"
  for i in $(seq 1 999); do
    echo "  - {id: t$i, type: shell, command: \"date +%s%N >>$work/hop_starts\", depends_on: [t$((i-1))]}"
  done
} >"$work/chain/dags/hop.yaml"
{
  echo "t0:"; echo "	true"
  for i in $(seq 1 999); do echo "t$i: t$((i-1))"; echo "	true"; done
  echo ".PHONY: $(seq -f 't%g' 0 999 | tr '\n' ' ')"
} >"$work/chain.mk"
# The hop chain for make: the same commands, so that the cost of starting
# `sh` and `date` is measured beside Sluice's.
{
  echo "t0:"; echo "	date +%s%N >>$work/make_hop_starts"
  for i in $(seq 1 999); do echo "t$i: t$((i-1))"; echo "	date +%s%N >>$work/make_hop_starts"; done
  echo ".PHONY: $(seq -f 't%g' 0 999 | tr '\n' ' ')"
} >"$work/hop.mk"
{
  echo "dag: fan"; echo "schedule: null"; echo "max_active_tasks: 10000"; echo "tasks:"
  for i in $(seq 0 9999); do echo "  - {id: t$i, type: shell, command: \"true\"}"; done
} >"$work/fan/dags/fan.yaml"
{
  echo "all: $(seq -f 't%g' 0 9999 | tr '\n' ' ')"
  for i in $(seq 0 9999); do echo "t$i:"; echo "	true"; done
  echo ".PHONY: all $(seq -f 't%g' 0 9999 | tr '\n' ' ')"
} >"$work/fan.mk"
for i in $(seq 0 999); do
  cat >"$work/idle/dags/idle_$i.yaml" <<DAG
dag: idle_$i
schedule: "0 3 * * *"
start_date: 2031-01-01
tasks:
  - {id: a, type: shell, command: "true"}
  - {id: b, type: shell, command: "true", depends_on: [a]}
DAG
done

# Runs DAG $2 in the deployment whose config is in folder $1; prints the run's
# wall time (created -> ended, seconds) and writes its task JSON to $3.
# `trigger --wait` follows the run with a cheap poll every 500 ms, so that the
# benchmark harness takes next to no CPU from the run it measures; the
# figures come from the run's own timestamps in the store.
run_once() {
  local dir=$1 dag=$2 out=$3 run_id
  run_id=$(cd "$dir" && "$sluice" trigger "$dag" --wait | awk '/^run / {print $2}' | tail -1)
  (cd "$dir" && "$sluice" runs show "$dag" "$run_id" --json) >"$out"
  python3 - "$out" <<'PY'
import json, sys, datetime
r = json.load(open(sys.argv[1]))
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
print((p(r["ended_at"]) - p(r["created_at"])).total_seconds())
PY
}

# p50 and p99, in ms, of (process start of task i+1) - (end of task i): the
# start is what the task's own `date` printed (file $2, one line per task in
# chain order); the end is the task's ended_at in the store, taken before
# its finish commits, so each figure is an upper bound of commit -> start.
# It includes starting `sh` and `date`. Third: the p50 of start-to-start,
# which make's run of the same chain gives too (start_to_start).
hops() {
  python3 - "$1" "$2" <<'PY'
import json, sys, datetime
r = json.load(open(sys.argv[1]))
starts = [int(x) / 1e6 for x in open(sys.argv[2]).read().split()]
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
t = sorted(r["tasks"], key=lambda x: int(x["task_id"][1:]))
assert len(starts) == len(t), (len(starts), len(t))
h = sorted(s - p(a["ended_at"]) for a, s in zip(t, starts[1:]))
d = sorted(b - a for a, b in zip(starts, starts[1:]))
print(f"{h[len(h)//2]:.1f} {h[int(len(h)*0.99)]:.1f} {d[len(d)//2]:.2f}")
PY
}
# p50, in ms, of the differences between consecutive lines of file $1.
start_to_start() {
  python3 - "$1" <<'PY'
import sys
s = [int(x) / 1e6 for x in open(sys.argv[1]).read().split()]
d = sorted(b - a for a, b in zip(s, s[1:]))
print(f"{d[len(d)//2]:.2f}")
PY
}

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# --- 1 + 3: chain, SQLite, standalone ---------------------------------------
echo "db: sqlite://$work/chain/sluice.db" >"$work/chain/sluice.yaml"
echo "dags: dags" >>"$work/chain/sluice.yaml"
port=$(free_port)
(cd "$work/chain" && exec "$sluice" standalone --port "$port" --slots 2 >/dev/null 2>"$work/chain/standalone.log") &
pids+=($!)
wait_port "$port"
make_times=(); sq_times=(); hop50=(); hop99=(); step=(); make_step=()
for r in $(seq 1 "$reps"); do
  s=$(date +%s.%N); make -s -f "$work/chain.mk" t999; e=$(date +%s.%N)
  make_times+=("$(python3 -c "print($e-$s)")")
  sq_times+=("$(run_once "$work/chain" chain "$work/chain/run.json")")
  rm -f "$work/hop_starts" "$work/make_hop_starts"
  run_once "$work/chain" hop "$work/chain/hop.json" >/dev/null
  read -r a b c < <(hops "$work/chain/hop.json" "$work/hop_starts")
  hop50+=("$a"); hop99+=("$b"); step+=("$c")
  make -s -f "$work/hop.mk" t999
  make_step+=("$(start_to_start "$work/make_hop_starts")")
done
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
echo "make chain runs: ${make_times[*]} s; SQLite chain runs: ${sq_times[*]} s" >&2
make_chain=$(median "${make_times[@]}")
sq_chain=$(median "${sq_times[@]}")
h50=$(median "${hop50[@]}"); h99=$(median "${hop99[@]}")
st=$(median "${step[@]}"); mst=$(median "${make_step[@]}")

# --- 2: chain, Postgres, separate scheduler and worker ----------------------
pg_chain=$(scripts/with-postgres.sh bash -c '
  set -euo pipefail
  dir='"$work"'/pgchain; mkdir -p "$dir"; cp -r '"$work"'/chain/dags "$dir/"
  printf "db: \"%s\"\ndags: dags\n" "$SLUICE_TEST_PG_URL" >"$dir/sluice.yaml"
  cd "$dir"; '"$sluice"' db migrate >/dev/null
  '"$sluice"' scheduler 2>scheduler.log & s=$!
  '"$sluice"' worker --slots 2 2>worker.log & w=$!
  trap "kill $s $w 2>/dev/null; wait 2>/dev/null || true" EXIT
  sleep 1
  times=(); makes=()
  for r in $(seq 1 '"$reps"'); do
    # make right before each run, so that both see the machine alike.
    m0=$(date +%s.%N); make -s -f '"$work"'/chain.mk t999; m1=$(date +%s.%N)
    makes+=($(python3 -c "print($m1 - $m0)"))
    run_id=$('"$sluice"' trigger chain --wait | awk "/^run / {print \$2}" | tail -1)
    '"$sluice"' runs show chain "$run_id" --json >run.json
    times+=($(python3 -c "
import json, datetime
r = json.load(open(\"run.json\"))
p = lambda s: datetime.datetime.fromisoformat(s.replace(\"Z\", \"+00:00\"))
print((p(r[\"ended_at\"]) - p(r[\"created_at\"])).total_seconds())"))
  done
  echo "make chain runs (Postgres phase): ${makes[*]} s; Postgres chain runs: ${times[*]} s" >&2
  med() { python3 -c "import sys,statistics; print(statistics.median([float(x) for x in sys.argv[1:]]))" "$@"; }
  echo "$(med "${times[@]}") $(med "${makes[@]}")"
' | tail -1)
read -r pg_chain pg_make <<<"$pg_chain"

# --- 4: fan-out, 10,000 tasks, 8 slots ---------------------------------------
echo "db: sqlite://$work/fan/sluice.db" >"$work/fan/sluice.yaml"
echo "dags: dags" >>"$work/fan/sluice.yaml"
port=$(free_port)
(cd "$work/fan" && exec "$sluice" standalone --port "$port" --slots 8 >/dev/null 2>"$work/fan/standalone.log") &
pids+=($!)
wait_port "$port"
s=$(date +%s.%N); make -s -j8 -f "$work/fan.mk" all; e=$(date +%s.%N)
make_fan=$(python3 -c "print($e-$s)")
sq_fan=$(run_once "$work/fan" fan "$work/fan/run.json")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# --- 5: idle scheduler with 1,000 DAGs ---------------------------------------
printf "db: sqlite://%s/idle/sluice.db\ndags: dags\n" "$work" >"$work/idle/sluice.yaml"
(cd "$work/idle" && "$sluice" db migrate >/dev/null && exec "$sluice" scheduler 2>"$work/idle/scheduler.log") &
pid=$!; pids+=($pid)
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); sleep "$idle_secs"; t1=$(ticks)
hz=$(getconf CLK_TCK)
idle_cpu=$(python3 -c "print(100.0 * ($t1 - $t0) / $hz / $idle_secs)")
rss_mb=$(awk '/VmRSS/ {print $2/1024}' "/proc/$pid/status")
kill "$pid"; wait "$pid" 2>/dev/null || true

# --- report ------------------------------------------------------------------
python3 - "$make_chain" "$sq_chain" "$pg_chain" "$h50" "$h99" "$make_fan" "$sq_fan" "$idle_cpu" "$rss_mb" "$reps" "$idle_secs" "$pg_make" "$st" "$mst" <<'PY'
import sys
mc, sc, pc, h50, h99, mf, sf, cpu, rss, reps, idle, pm, st, mst = map(float, sys.argv[1:])
rows = [
    ("chain 1000 x true, SQLite standalone", f"{sc:.2f} s", f"make {mc:.2f} s", f"ratio {sc/mc:.2f}", "<= 2.0"),
    ("chain 1000 x true, Postgres + worker", f"{pc:.2f} s", f"make {pm:.2f} s", f"ratio {pc/pm:.2f}", "<= 3.0"),
    ("hop latency p50", f"{h50:.1f} ms", "Airflow 2.x: 2000-4000 ms", "", "<= 5 ms"),
    ("hop latency p99", f"{h99:.1f} ms", "", "", "<= 50 ms"),
    ("hop chain, start to start p50", f"{st:.2f} ms", f"make {mst:.2f} ms", f"+{st - mst:.2f} ms", ""),
    ("fan-out 10000 x true, 8 slots", f"{10000/sf:.0f} tasks/s", f"make -j8 {10000/mf:.0f} tasks/s", f"{100*mf/sf:.0f}% of make", ">= 50%"),
    ("idle scheduler, 1000 DAGs", f"{cpu:.2f}% CPU", f"over {idle:.0f} s", "", "< 1%"),
    ("idle scheduler RSS", f"{rss:.1f} MB", "", "", "< 100 MB"),
]
print(f"Scheduler benchmark (median of {int(reps)}):")
w = [max(len(r[i]) for r in rows) for i in range(5)]
for r in rows:
    print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
PY
