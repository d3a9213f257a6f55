#!/usr/bin/env bash
# Where geodns's time goes while it answers a load: geodns serves the benchmark scenario
# (bench/README.md) pinned to CPU 0, four dnsperf generators load it from CPU 1, and a
# profiler records it. Prints the top costs, for the "top costs before/after" notes in
# bench/RESULTS.md.
#
# usage: bench/profile.sh [SECONDS] [CASE] [TOP]
#   SECONDS  length of the load (default 10); CASE static | pool | pool-ecs (default pool)
#   TOP      how many functions to list (default 15)
# environment:
#   PROFILER=py-spy     sampling, from outside the process (default; pip-installed into the
#                       venv when missing): little overhead, so the shares are the real ones
#   PROFILER=cprofile   deterministic, inside the process: slows geodns down 2-3x, but counts
#                       calls, printed per query answered (what a fast path must cut)
#   NATIVE=1            py-spy also samples C frames (socket calls, the event loop), at the
#                       price of stopping geodns for each sample
#   KEEP=DIR            also keep the raw profile there (py-spy: collapsed stacks, for
#                       flamegraph.pl or speedscope; cProfile: a pstats file)
set -euo pipefail

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench")
venv=$repo/.venv
python=$venv/bin/python

secs=${1:-10}
case_=${2:-pool}
top=${3:-15}
profiler=${PROFILER:-py-spy}
addr=127.0.0.10
port=5300
case $case_ in static | pool | pool-ecs) ;; *) echo "CASE: static, pool or pool-ecs" >&2; exit 2 ;; esac
case $profiler in py-spy | cprofile) ;; *) echo "PROFILER: py-spy or cprofile" >&2; exit 2 ;; esac
[ "$secs" -ge 2 ] || { echo "SECONDS >= 2" >&2; exit 2; }

for v in ${!GEODNS_@}; do unset "$v"; done   # the caller's settings must not change the scenario

work=$(mktemp -d -t geodns-profile.XXXXXX)
server=""   # pid of geodns = its process group (setsid); the only process group we kill
stop_server() {
  if [ -n "$server" ]; then
    kill -TERM -- "-$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

need_tools() {
  if ! command -v dnsperf >/dev/null || ! command -v dig >/dev/null; then
    echo "needs dnsperf and dig: run bench/run.sh once, or apt-get install dnsperf bind9-dnsutils" >&2
    exit 1
  fi
  if [ "$profiler" = py-spy ] && [ ! -x "$venv/bin/py-spy" ]; then
    "$venv/bin/pip" install -q py-spy
  fi
}

start_geodns() {  # the same set-up as run.sh; under cProfile the interpreter runs the profiler
  local db="sqlite+aiosqlite:///$work/geodns.db"
  mkdir -p "$work/zones"
  cp "$bench/example.test.zone" "$work/zones/"
  GEODNS_LOG_LEVEL=warning "$venv/bin/geodns" pools apply "$bench/pools.yaml" \
    --database "$db" --zones "$work/zones" >"$work/apply.log" 2>&1 ||
    { cat "$work/apply.log" >&2; exit 1; }
  local serve=(serve --dns "$addr:$port" --api off --zones "$work/zones" --database "$db"
               --geoip-db "$bench/loopback-geo.mmdb")
  local run=("$venv/bin/geodns")
  # cProfile only while the load runs (start-up imports would swamp the shares): SIGUSR1 turns
  # it on, SIGUSR2 off and writes the stats; geodns's own signals are TERM, INT and HUP
  [ "$profiler" = cprofile ] && run=("$python" -c '
import cProfile, signal, sys
from geodns.cli import main
profile, out = cProfile.Profile(), sys.argv.pop(1)
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
signal.signal(signal.SIGUSR2, lambda *_: (profile.disable(), profile.dump_stats(out)))
sys.argv[0] = "geodns"
sys.exit(main())' "$work/geodns.prof")
  setsid taskset -c 0 env GEODNS_LOG_LEVEL=warning "${run[@]}" "${serve[@]}" >"$work/server.log" 2>&1 &
  server=$!
  local _
  for _ in $(seq 100); do
    [ "$(dig +short +time=1 +tries=1 @$addr -p $port static.example.test A)" = 192.0.2.1 ] && return 0
    sleep 0.2
  done
  echo "geodns did not answer; its log:" >&2
  tail -20 "$work/server.log" >&2
  exit 1
}

ECS=(00011800030000 00011800020000 00011800040000 00011800050000)  # as in run.sh
load() {  # the four generators of run.sh for SECONDS; prints the queries they got answered
  local r pids=() src
  for r in 1 2 3 4; do
    src=(-a "127.0.$r.1")
    [ "$case_" = pool-ecs ] && src=(-a 127.0.0.1 -E "8:${ECS[r - 1]}")
    taskset -c 1 dnsperf -s $addr -p $port "${src[@]}" -d "$work/q" -c 2 -q 64 -t 1 -l "$secs" \
      >"$work/dp.$r" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  awk '/Queries completed:/ {n += $3} /Queries per second:/ {q += $4}
       END {printf "%d queries answered, %.0f queries/s\n", n, q}' "$work"/dp.[1-4]
}

summarize_py_spy() {
  # Collapsed stacks, "frame;frame;...;leaf COUNT", a frame "function (file:line)". Self = the
  # samples where a function is the leaf; total = the samples where it is anywhere on the stack.
  "$python" - "$work/stacks.txt" "$top" "$repo" <<'EOF'
import collections, re, sys

path, top, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3] + "/"
frame_re = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")

def name(frame):  # "func (file)", paths shortened, line numbers dropped: one row per function
    m = frame_re.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"].replace(repo, "")
    file = re.sub(r"^.*/site-packages/", "", file)
    file = re.sub(r"^.*/lib/python3\.\d+/", "", file)
    return f"{m['func']} ({file})"

self_n, total_n, samples = collections.Counter(), collections.Counter(), 0
for line in open(path, encoding="utf-8"):
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack:
        continue
    n = int(count)
    frames = [name(f) for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
    if not frames:
        continue
    samples += n
    self_n[frames[-1]] += n
    for f in set(frames):
        total_n[f] += n

print(f"{samples} samples of geodns while it was running Python code")
for title, counter in (("self (time in the function itself)", self_n), ("total (the function and what it calls)", total_n)):
    print(f"\ntop {top} by {title}:")
    for func, n in counter.most_common(top):
        print(f"  {100 * n / samples:5.1f}%  {func}")
EOF
}

summarize_cprofile() {  # QUERIES -> the pstats tables, with calls per query answered
  "$python" - "$work/geodns.prof" "$top" "$1" "$repo" <<'EOF'
import pstats, sys

path, top, queries, repo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] + "/"
stats = pstats.Stats(path).stats  # (file, line, func) -> (primitive calls, calls, tottime, cumtime, callers)
total = sum(tt for _, _, tt, _, _ in stats.values())

def label(key):
    file, line, func = key
    file = file.replace(repo, "").split("/site-packages/")[-1]
    return f"{func} ({file}:{line})" if line else func

print(f"{queries} queries answered; {total:.2f} s of profiled time; per query {1e6 * total / max(queries, 1):.1f} us (profiled, so inflated)")
for title, col in (("self time", 2), ("cumulative time", 3)):
    print(f"\ntop {top} by {title}:   share   us/query   calls/query")
    for key, v in sorted(stats.items(), key=lambda kv: kv[1][col], reverse=True)[:top]:
        print(f"  {100 * v[col] / total:5.1f}%  {1e6 * v[col] / max(queries, 1):8.2f}  {v[1] / max(queries, 1):10.2f}  {label(key)}")
EOF
}

main() {
  need_tools
  local name=www.example.test
  [ "$case_" = static ] && name=static.example.test
  for _ in $(seq 1000); do echo "$name A"; done >"$work/q"
  start_geodns
  echo "# geodns $("$venv/bin/geodns" --version | awk '{print $2}') under $profiler, case $case_, $secs s of load"
  local answered
  if [ "$profiler" = py-spy ]; then
    # py-spy on the generators' core; --nonblocking reads the process without stopping it,
    # so the load sees (nearly) the speed it would without the profiler. NATIVE=1 adds the C
    # frames (the socket calls, the event loop), which needs py-spy to stop it at each sample.
    local mode=(--nonblocking)
    [ -n "${NATIVE:-}" ] && mode=(--native)
    taskset -c 1 "$venv/bin/py-spy" record --pid "$server" --subprocesses "${mode[@]}" --rate 250 \
      --format raw --output "$work/stacks.txt" --duration "$secs" >"$work/py-spy.log" 2>&1 &
    local spy=$!
    answered=$(load)
    wait "$spy" || { echo "py-spy failed (ptrace not permitted? try PROFILER=cprofile):" >&2; cat "$work/py-spy.log" >&2; exit 1; }
    stop_server
    echo "# $answered (with the profiler attached)"
    summarize_py_spy
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$work/stacks.txt" "$KEEP/geodns-$case_.stacks.txt"; }
  else
    kill -USR1 "$server"
    answered=$(load)
    kill -USR2 "$server"
    sleep 1  # the handler runs at geodns's next Python instruction
    stop_server
    echo "# $answered (under cProfile)"
    [ -s "$work/geodns.prof" ] || { echo "cProfile wrote no profile; geodns's log:" >&2; tail "$work/server.log" >&2; exit 1; }
    summarize_cprofile "$(awk '{print $1; exit}' <<<"$answered")"
    [ -z "${KEEP:-}" ] || { mkdir -p "$KEEP"; cp "$work/geodns.prof" "$KEEP/geodns-$case_.prof"; }
  fi
}

main
