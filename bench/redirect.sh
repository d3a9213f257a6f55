#!/usr/bin/env bash
# The HTTP redirector's benchmark: geodns --http beside nginx (Debian's) configured with
# geo + split_clients + return 302 for the same scenario, measured one after the other in
# the same run with wrk on keep-alive connections.
#
# usage: bench/redirect.sh [SECONDS] [ROUNDS]
#   SECONDS  length of one round (default 10, at least 2)
#   ROUNDS   rounds per server, alternating; the table shows the median round (default 3)
# environment:
#   CONNECTIONS=32  wrk connections      NO_INSTALL=1  do not apt-get nginx or wrk
#
# Scenario: one pool of eight members in four regions (2 each, weights 100 and 50), one
# Location per answer, the region chosen by the client's address: the client is the
# X-Forwarded-For address wrk sends (four networks, one per region, rotated per request),
# believed from the loopback proxy by both servers, as a redirector behind a load
# balancer sees it. Each server runs alone, pinned to CPU 0, and is stopped by killing its
# own process group; wrk runs on CPU 1. Per server CPU is the server's own user+system
# time during the round (from /proc), so the ratio per CPU does not depend on how much of
# CPU 0 the machine's other work left it. Traffic stays on loopback.
# Prints a Markdown table; bench/RESULTS.md keeps the figures under "Redirector".
set -euo pipefail

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench")
geodns=$repo/.venv/bin/geodns
secs=${1:-10}
rounds=${2:-3}
connections=${CONNECTIONS:-32}
if [ "$secs" -lt 2 ] || [ "$rounds" -lt 1 ]; then
  echo "usage: $0 [SECONDS>=2] [ROUNDS>=1]" >&2
  exit 2
fi
for v in ${!GEODNS_@}; do unset "$v"; done

work=$(mktemp -d -t geodns-redirect.XXXXXX)
server="" # pid of the running server = its process group (setsid); the only thing we kill

stop_server() {
  if [ -n "$server" ]; then
    kill -TERM -- "-$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
log() { echo "$*" >&2; }

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} != 0 ]; then
  if [ -n "${NO_INSTALL:-}" ]; then log "missing: ${need[*]}"; exit 1; fi
  apt-get update -qq
  # the package's own nginx must not start: policy-rc.d 101 keeps it stopped
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$geodns" ] || { log "no $geodns: run ./run test once (it builds .venv)"; exit 1; }

free_port() {
  "$repo/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the scenario, for both servers ----------------------------------------------------------

mkdir -p "$work/zones" "$work/nginx/logs"
cp "$bench/example.test.zone" "$work/zones/"
cat >"$work/pools.yaml" <<'EOF'
pools:
  - name: www.example.test
    policy: weighted
    max_answers: 1
    default_regions: [us]
    members:
      - {address: 192.0.2.11, weight: 100, region: us, url: "http://us1.example.test"}
      - {address: 192.0.2.12, weight: 50, region: us, url: "http://us2.example.test"}
      - {address: 192.0.2.21, weight: 100, region: eu, url: "http://eu1.example.test"}
      - {address: 192.0.2.22, weight: 50, region: eu, url: "http://eu2.example.test"}
      - {address: 192.0.2.31, weight: 100, region: ap, url: "http://ap1.example.test"}
      - {address: 192.0.2.32, weight: 50, region: ap, url: "http://ap2.example.test"}
      - {address: 192.0.2.41, weight: 100, region: sa, url: "http://sa1.example.test"}
      - {address: 192.0.2.42, weight: 50, region: sa, url: "http://sa2.example.test"}
    rules:
      - {match: {cidr: 10.1.0.0/16}, regions: [us]}
      - {match: {cidr: 10.2.0.0/16}, regions: [eu]}
      - {match: {cidr: 10.3.0.0/16}, regions: [ap]}
      - {match: {cidr: 10.4.0.0/16}, regions: [sa]}
EOF
# wrk: one request per client network in turn (the header is the only thing that changes)
cat >"$work/clients.lua" <<'EOF'
local clients = {"10.1.7.9", "10.2.7.9", "10.3.7.9", "10.4.7.9"}
local i = 0
request = function()
  i = i % #clients + 1
  return wrk.format("GET", "/pub/file.iso", {["Host"] = "www.example.test", ["X-Forwarded-For"] = clients[i]})
end
EOF
write_nginx_conf() {
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 1000000;
  # the client is X-Forwarded-For's address when the peer is the loopback proxy
  geo \$region {
    proxy 127.0.0.1;
    default us;
    10.1.0.0/16 us;
    10.2.0.0/16 eu;
    10.3.0.0/16 ap;
    10.4.0.0/16 sa;
  }
  # weighted within the region (100:50), per request as geodns draws
  split_clients "\${msec}\${connection_requests}" \$us { 66.67% us1; * us2; }
  split_clients "\${msec}\${connection_requests}" \$eu { 66.67% eu1; * eu2; }
  split_clients "\${msec}\${connection_requests}" \$ap { 66.67% ap1; * ap2; }
  split_clients "\${msec}\${connection_requests}" \$sa { 66.67% sa1; * sa2; }
  map \$region \$member { us \$us; eu \$eu; ap \$ap; sa \$sa; }
  server {
    listen 127.0.0.1:$1;
    add_header Cache-Control "private, no-cache" always;
    location / { return 302 http://\$member.example.test\$request_uri; }
  }
}
EOF
}

start_geodns() {
  local port=$1 db="sqlite+aiosqlite:///$work/geodns.db"
  [ -e "$work/geodns.db" ] || "$geodns" pools apply "$work/pools.yaml" --zones "$work/zones" --database "$db" >/dev/null
  setsid taskset -c 0 "$geodns" serve --dns 127.0.0.1:0 --api off --http "127.0.0.1:$port" \
    --http-trusted-proxies 127.0.0.1/32 --zones "$work/zones" --database "$db" --no-geoip \
    --log-level warning >"$work/server.log" 2>&1 &
  server=$!
}

start_nginx() {
  write_nginx_conf "$1"
  setsid taskset -c 0 "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/server.log" 2>&1 &
  server=$!
}

wait_ready() {  # until the server answers the scenario's request with a 302
  local port=$1 deadline=$((SECONDS + 30))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.example.test' "http://127.0.0.1:$port/pub/file.iso")" = 302 ]; do
    [ $SECONDS -lt $deadline ] || { log "server did not answer:"; cat "$work/server.log" >&2; exit 1; }
    kill -0 "$server" 2>/dev/null || { log "server exited:"; cat "$work/server.log" >&2; exit 1; }
    sleep 0.2
  done
}

cpu_ticks() {  # user+system clock ticks of every process in the server's process group
  local total=0 pid stat
  for pid in $(pgrep -g "$server"); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    set -- $stat
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

check_choice() {  # both servers send a 10.2/16 client to eu1 or eu2, and nowhere else
  local port=$1 got
  got=$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Host: www.example.test' -H 'X-Forwarded-For: 10.2.7.9' "http://127.0.0.1:$port/pub/file.iso")
  case "$got" in
    http://eu[12].example.test/pub/file.iso) ;;
    *) log "wrong redirect for an eu client: $got"; exit 1 ;;
  esac
}

hz=$(getconf CLK_TCK)
round() {  # name -> "rps p99_ms cpu_s rps_per_cpu"
  local name=$1 port
  port=$(free_port)
  "start_$name" "$port"
  wait_ready "$port"
  check_choice "$port"
  taskset -c 1 wrk -t1 -c"$connections" -d1s -s "$work/clients.lua" "http://127.0.0.1:$port/" >/dev/null # warm-up
  local before after
  before=$(cpu_ticks)
  taskset -c 1 wrk -t1 -c"$connections" -d"${secs}s" --latency -s "$work/clients.lua" "http://127.0.0.1:$port/" >"$work/wrk.out"
  after=$(cpu_ticks)
  stop_server
  "$repo/.venv/bin/python" - "$work/wrk.out" "$((after - before))" "$hz" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", text).groups()
p99_ms = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
if re.search(r"Non-2xx or 3xx responses", text) is None:
    pass  # 302 is a 3xx: wrk counts it as a success
errors = re.search(r"Socket errors:.*", text)
cpu_s = ticks / hz
print(f"{rps:.0f} {p99_ms:.2f} {cpu_s:.2f} {total / cpu_s if cpu_s else 0:.0f}" + (" errors" if errors else ""))
EOF
}

declare -A results
for r in $(seq 1 "$rounds"); do
  for name in geodns nginx; do
    line=$(round "$name")
    log "round $r $name: requests/s p99_ms cpu_s requests/cpu_s = $line"
    results[$name]+="$line"$'\n'
  done
done

"$repo/.venv/bin/python" - "$secs" "$rounds" "$connections" "${results[geodns]}" "${results[nginx]}" <<'EOF'
import statistics, sys
secs, rounds, connections = sys.argv[1:4]
def median_round(block):
    rows = [list(map(float, line.split()[:4])) for line in block.strip().splitlines()]
    rows.sort(key=lambda row: row[3])
    return rows[len(rows) // 2]
g, n = median_round(sys.argv[4]), median_round(sys.argv[5])
print(f"wrk -t1 -c{connections}, {secs} s rounds, median of {rounds} by requests per server CPU second\n")
print("| server | requests/s | p99 ms | server CPU s | requests per CPU s |")
print("|---|---:|---:|---:|---:|")
for name, row in (("geodns --http", g), ("nginx geo+split_clients", n)):
    print(f"| {name} | {row[0]:.0f} | {row[1]:.2f} | {row[2]:.2f} | {row[3]:.0f} |")
print(f"\ngeodns/nginx: {g[0] / n[0]:.2f}x requests/s, {g[3] / n[3]:.2f}x per server CPU; "
      f"p99 {g[1]:.2f} ms vs {n[1]:.2f} ms")
EOF
