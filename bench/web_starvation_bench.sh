#!/usr/bin/env bash
# Web server under idle and slow clients (issue 21, item 3): how long GET
# /healthz takes on a new connection while other clients hold connections
# and send nothing, or send their request head a byte a second (slowloris).
# Target: every /healthz within 100 ms. Prints median, p95 and max of N tries
# per scenario.
#
# Usage: bench/web_starvation_bench.sh [TRIES]   (default 20)
#   SLUICE_BIN=path/to/sluice uses that binary instead of building build/.
set -euo pipefail
cd "$(dirname "$0")/.."
tries=${1:-20}
if [ -n "${SLUICE_BIN:-}" ]; then
  sluice=$(cd "$(dirname "$SLUICE_BIN")" && pwd)/$(basename "$SLUICE_BIN")
else
  scripts/build.sh release sluice >/dev/null
  sluice=$PWD/build/sluice
fi
command -v python3 >/dev/null || { echo "web_starvation_bench: python3 is needed" >&2; exit 1; }

work=$(mktemp -d /tmp/sluice-web-bench.XXXXXX)
web_pid=
cleanup() {
  if [ -n "$web_pid" ]; then kill "$web_pid" 2>/dev/null || true; wait "$web_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export SLUICE_DB="sqlite://$work/sluice.db" SLUICE_DAGS="$work/dags" SLUICE_API_TOKEN=
mkdir -p "$work/dags"
(cd "$work" && "$sluice" db migrate >/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec "$sluice" web --port "$port" >"$work/web.log" 2>&1) &
web_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

ulimit -n 4096 2>/dev/null || true
python3 - "$port" "$tries" <<'PY'
import socket, statistics, sys, threading, time

port, tries = int(sys.argv[1]), int(sys.argv[2])
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

def healthz_ms():
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(REQUEST)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        return float("inf")
    return (time.monotonic() - start) * 1000

def idle_sockets(count, addresses):
    out = []
    for i in range(count):
        s = socket.socket()
        s.bind((addresses[i % len(addresses)], 0))
        s.connect(("127.0.0.1", port))
        out.append(s)
    return out

def measure(name, spread_over=None):
    times = sorted(healthz_ms() for _ in range(tries))
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    worst = max(times)
    verdict = "ok" if worst <= 100 else "OVER 100 ms"
    print(f"  {name:<48} median {statistics.median(times):7.1f} ms"
          f"  p95 {p95:7.1f} ms  max {worst:7.1f} ms  {verdict}")

print(f"GET /healthz on a new connection, {tries} tries each (target: <= 100 ms)")
measure("no other clients")
for count in (8, 16, 500):
    held = idle_sockets(count, ["127.0.0.1"])
    time.sleep(0.2)
    measure(f"{count} idle sockets from 127.0.0.1")
    for s in held:
        s.close()
held = idle_sockets(500, [f"127.0.0.{2 + i}" for i in range(16)])
time.sleep(0.2)
measure("500 idle sockets from 16 other addresses")
for s in held:
    s.close()

# Slowloris: 8 clients that send their head a byte a second and start over
# whenever the server closes them.
stop = threading.Event()
def slowloris(source):
    head = b"GET /api/v1/dags HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 1000
    while not stop.is_set():
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        try:
            for byte in head:
                if stop.is_set():
                    break
                s.sendall(bytes([byte]))
                stop.wait(1.0)
        except OSError:
            pass
        s.close()
clients = [threading.Thread(target=slowloris, args=("127.0.0.2",)) for _ in range(8)]
for c in clients:
    c.start()
time.sleep(1.5)
measure("8 slowloris clients (a header byte a second)")
stop.set()
for c in clients:
    c.join()
PY
