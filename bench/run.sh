#!/usr/bin/env bash
# geodns's benchmark: geodns beside gdnsd, PowerDNS (LUA records), Knot and a dnslib server,
# all serving the scenario of bench/README.md, measured one after another in the same run;
# and signed: geodns's zone signed online beside PowerDNS's LUA record in a signed zone and
# Knot's onlinesign module, asked with DO set.
#
# usage: bench/run.sh [SECONDS] [ROUNDS] [TARGET...]
#   SECONDS  length of one round (default 10, at least 3)
#   ROUNDS   rounds per case; the table shows the median round (default 3)
#   TARGET   geodns geodns-py gdnsd pdns knot dnslib pdnssign knotsign (default: all eight, in
#            that order); geodns is geodns on its native data plane (the C loop), geodns-py on
#            the Python one; both sign the zone (its DO cases); pdnssign is PowerDNS with the
#            zone signed (pdnsutil secure-zone), knotsign Knot with mod-onlinesign
# environment:
#   HALF_PEAK="geodns knot"  targets whose cases are measured ROUNDS more times at a limited rate
#                       (dnsperf -Q) for p99 latency: geodns at half its own median qps, the
#                       others at the rate geodns had (else half their own), so that Knot gives
#                       this machine's latency floor at the same offered load; "all", or "" for none
#   NO_INSTALL=1        do not apt-get the missing Debian packages
#   QUIET_WAIT_S=30     how long to wait, before each round, for the machine to be quiet
#
# Each server runs alone, pinned to CPU 0, and is stopped by killing its own process group;
# four dnsperf generators (one per client region) share CPU 1. Traffic stays on loopback.
# Writes bench/RESULTS.md (the section under the "kept" marker survives) and prints the ratios
# geodns/peer last.
set -euo pipefail

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench")
venv=$repo/.venv
python=$venv/bin/python
results=$bench/RESULTS.md
keep_marker='<!-- run.sh keeps everything below this line -->'

secs=${1:-10}
rounds=${2:-3}
shift $(($# < 2 ? $# : 2))
targets=(geodns geodns-py gdnsd pdns knot dnslib pdnssign knotsign)
[ $# = 0 ] || targets=("$@")
half_peak=${HALF_PEAK-geodns knot}
[ "$half_peak" = all ] && half_peak="${targets[*]}"
if [ "$secs" -lt 3 ] || [ "$rounds" -lt 1 ]; then
  echo "usage: $0 [SECONDS>=3] [ROUNDS>=1] [TARGET...]" >&2
  exit 2
fi

# The benchmark must not depend on the caller's geodns settings (and settings.py rejects
# unknown GEODNS_* names): start from none, set what is needed on each command line.
for v in ${!GEODNS_@}; do unset "$v"; done

work=$(mktemp -d -t geodns-bench.XXXXXX)
server=""   # pid of the running server = its process group (setsid); the only thing we kill

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

# --- setup -----------------------------------------------------------------------------------

install_packages() {  # the Debian packages of the peers and tools, when one is missing
  local pkgs=(dnsperf gdnsd pdns-server pdns-backend-bind pdns-backend-geoip knot bind9-dnsutils)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  if [ -n "${NO_INSTALL:-}" ]; then log "missing packages: ${missing[*]}"; exit 1; fi
  log "installing ${missing[*]}"
  apt-get update -qq
  # The packages' own services must not start (they would take port 53 or our addresses):
  # policy-rc.d exit 101 tells invoke-rc.d to leave them stopped.
  local had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ $had_policy = 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { tail -20 "$work/apt.log" >&2; exit 1; }
  [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
}

write_query_files() {  # dnsperf loops over its input file; one name per case
  local _
  for _ in $(seq 1000); do echo "static.example.test A"; done >"$work/static.q"
  for _ in $(seq 1000); do echo "www.example.test A"; done >"$work/pool.q"
}

query_file() {  # CASE -> its dnsperf input: static and static-dnssec ask the static name, the
                # pool cases the pool's (ECS or DO only change the options)
  case $1 in static*) echo "$work/static.q" ;; *) echo "$work/pool.q" ;; esac
}

# --- targets ---------------------------------------------------------------------------------

target_info() {  # NAME -> sets addr port cases
  port=5300
  case $1 in
    geodns) addr=127.0.0.10 cases="static pool pool-ecs static-dnssec pool-dnssec" ;;
    geodns-py) addr=127.0.0.15 cases="static pool pool-ecs static-dnssec pool-dnssec" ;;
    gdnsd)  addr=127.0.0.11 cases="static pool pool-ecs" ;;
    pdns)   addr=127.0.0.12 cases="static pool pool-ecs" ;;
    dnslib) addr=127.0.0.13 cases="static" ;;
    knot)   addr=127.0.0.14 cases="static" ;;
    pdnssign) addr=127.0.0.16 cases="static-dnssec pool-dnssec" ;;
    knotsign) addr=127.0.0.17 cases="static-dnssec" ;;
    *) log "unknown target $1 (geodns geodns-py gdnsd pdns knot dnslib pdnssign knotsign)"; exit 2 ;;
  esac
}

note_command() { printf '%s\n' "$*" >>"$work/commands"; }

launch() {  # start a server alone on CPU 0, in its own process group, in the foreground
  note_command "setsid taskset -c 0 $*"
  setsid taskset -c 0 "$@" >"$work/server.log" 2>&1 &
  server=$!
}

start_geodns() { serve_geodns native; }
start_geodns-py() { serve_geodns python; }

serve_geodns() {  # DATA_PLANE
  local db="sqlite+aiosqlite:///$work/geodns-$1.db" secret
  mkdir -p "$work/zones"
  cp "$bench/example.test.zone" "$work/zones/"
  note_command "GEODNS_LOG_LEVEL=warning $venv/bin/geodns pools apply $bench/pools.yaml --database $db --zones $work/zones"
  GEODNS_LOG_LEVEL=warning "$venv/bin/geodns" pools apply "$bench/pools.yaml" \
    --database "$db" --zones "$work/zones" >"$work/apply.log" 2>&1 ||
    { log "geodns pools apply failed:"; cat "$work/apply.log" >&2; exit 1; }
  # the zone is signed (a CSK, ECDSAP256SHA256): queries without DO get the answers they
  # would get unsigned, the DO cases get them signed. The secret is this run's own.
  secret=$("$venv/bin/geodns" dnssec secret)
  note_command "GEODNS_DNSSEC_KEY_SECRET=\$(geodns dnssec secret) GEODNS_LOG_LEVEL=warning $venv/bin/geodns dnssec enable example.test --database $db --zones $work/zones"
  GEODNS_DNSSEC_KEY_SECRET=$secret GEODNS_LOG_LEVEL=warning "$venv/bin/geodns" dnssec enable \
    example.test --database "$db" --zones "$work/zones" >"$work/apply.log" 2>&1 ||
    { log "geodns dnssec enable failed:"; cat "$work/apply.log" >&2; exit 1; }
  note_command "# geodns serve has the same GEODNS_DNSSEC_KEY_SECRET in its environment"
  GEODNS_DNSSEC_KEY_SECRET=$secret launch env GEODNS_LOG_LEVEL=warning "$venv/bin/geodns" serve \
    --dns "$addr:$port" --api off --zones "$work/zones" --database "$db" \
    --geoip-db "$bench/loopback-geo.mmdb" --data-plane "$1"
}

start_gdnsd() {
  local dir=$work/gdnsd
  mkdir -p "$dir/zones" "$dir/geoip"
  cp "$bench/peers/gdnsd/config" "$dir/"
  cat "$bench/example.test.zone" "$bench/peers/gdnsd/www.dyna" >"$dir/zones/example.test"
  cp "$bench/loopback-geo.mmdb" "$dir/geoip/"
  launch gdnsd -c "$dir" start
}

start_pdns() { serve_pdns; }

start_pdnssign() {
  # the same PowerDNS, its zone signed: the bind backend keeps keys in a DNSSEC database
  # (pdnsutil create-bind-db), secure-zone makes a key (ECDSAP256SHA256, as geodns's), and
  # the LUA record's answers are signed as they are made
  serve_pdns "bind-dnssec-db=$work/pdnssign/bind-dnssec.sqlite3" || return 1
}

serve_pdns() {  # [EXTRA SETTING]: into pdns.conf
  local dir=$work/$name f
  mkdir -p "$dir"
  for f in pdns.conf named.conf geo-zones.yaml; do
    sed "s#@WORK@#$dir#g; s#@ADDR@#$addr#g; s#@PORT@#$port#g" "$bench/peers/pdns/$f" >"$dir/$f"
  done
  [ $# = 0 ] || printf '%s\n' "$@" >>"$dir/pdns.conf"
  cat "$bench/example.test.zone" "$bench/peers/pdns/www.lua-record" >"$dir/example.test.zone"
  cp "$bench/loopback-geo.mmdb" "$dir/"
  if [ $# != 0 ]; then
    note_command "pdnsutil --config-dir=$dir create-bind-db $dir/bind-dnssec.sqlite3"
    note_command "pdnsutil --config-dir=$dir secure-zone example.test"
    { pdnsutil --config-dir="$dir" create-bind-db "$dir/bind-dnssec.sqlite3" &&
      pdnsutil --config-dir="$dir" secure-zone example.test; } >"$work/pdnsutil.log" 2>&1 ||
      { log "pdnsutil failed:"; tail -20 "$work/pdnsutil.log" >&2; exit 1; }
  fi
  launch pdns_server --config-dir="$dir"
}

start_knot() { serve_knot knot.conf; }
start_knotsign() { serve_knot knot-onlinesign.conf; }

serve_knot() {  # CONFIG in bench/peers
  local dir=$work/$name
  mkdir -p "$dir"
  sed "s#@WORK@#$dir#g" "$bench/peers/$1" >"$dir/knot.conf"
  cp "$bench/example.test.zone" "$dir/"
  launch knotd -c "$dir/knot.conf"
}

start_dnslib() { launch "$python" "$bench/peers/dnslib_server.py" "$addr" "$port" "$bench/example.test.zone"; }

version_of() {
  case $1 in
    geodns) "$venv/bin/geodns" --version | awk '{print "geodns " $2 ", native data plane (" $3 " when auto)"}'
            echo "  on $("$python" -V), uvloop $("$python" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null || echo absent)" ;;
    geodns-py) "$venv/bin/geodns" --version | awk '{print "geodns " $2 ", python data plane"}' ;;
    gdnsd)  echo "gdnsd $(dpkg-query -W -f='${Version}' gdnsd)" ;;
    pdns)   echo "PowerDNS Authoritative $(dpkg-query -W -f='${Version}' pdns-server) (bind + geoip backends, LUA records shared)" ;;
    knot)   echo "Knot DNS $(dpkg-query -W -f='${Version}' knot)" ;;
    pdnssign) echo "PowerDNS Authoritative $(dpkg-query -W -f='${Version}' pdns-server) (as pdns, the zone signed: pdnsutil secure-zone, bind-dnssec-db)" ;;
    knotsign) echo "Knot DNS $(dpkg-query -W -f='${Version}' knot) (mod-onlinesign, ECDSAP256SHA256 CSK)" ;;
    dnslib) echo "dnslib $("$python" -c 'import dnslib; print(dnslib.version)') DNSServer on $("$python" -V)" ;;
  esac
}

# --- correctness -----------------------------------------------------------------------------

ask() {  # the answer's records, sorted, on one line; nothing when no answer (dig +short prints
         # its ";; connection timed out" on stdout: drop those lines)
  dig +short +time=1 +tries=1 @"$addr" -p "$port" "$@" | { grep -v '^;' || true; } | sort | tr '\n' ' ' | sed 's/ $//'
}

wait_ready() {  # the static name must answer 192.0.2.1 within 20 s
  local _
  for _ in $(seq 100); do
    [ "$(ask static.example.test A)" = 192.0.2.1 ] && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  log "$name at $addr:$port did not answer static.example.test; the end of its log:"
  tail -20 "$work/server.log" >&2
  exit 1
}

check_regions() {
  # Every address of the pool answer must belong to the client's region: by source address
  # (127.0.R.1 from the loopback GeoIP database) and by ECS subnet. Region R's members are
  # 192.0.2.R1 and 192.0.2.R2 (us=1 eu=2 ap=3 sa=4).
  local spec opt region got a bad=0 src
  for spec in 127.0.1.1=1 127.0.2.1=2 127.0.3.1=3 127.0.4.1=4 127.0.5.1=3 \
              3.0.0.0/24=1 2.0.0.0/24=2 4.0.0.0/24=3 5.0.0.0/24=4 1.0.0.0/24=3; do
    region=${spec#*=}
    src=${spec%=*}
    case $src in
      */*) opt=("+subnet=$src") ;;
      *)   opt=(-b "$src") ;;
    esac
    got=$(ask "${opt[@]}" www.example.test A)
    printf '%-7s dig %-20s www.example.test A -> %s\n' "$name" "${opt[*]}" "${got:-(nothing)}" | tee -a "$work/checks"
    [ -n "$got" ] || bad=1
    for a in $got; do
      case $a in 192.0.2.${region}[12]) ;; *) bad=1 ;; esac
    done
  done
  if [ $bad != 0 ]; then
    log "$name: the pool's answers do not follow the client's region; stopping"
    exit 1
  fi
}

check_signed() {
  # The signed cases: with DO (dig +dnssec) the answer carries its RRSIG, and delv, with
  # the zone's DNSKEY as trust anchor, validates it: the static name, and the pool from each
  # region's address (whose members it must be). The anchor is the DNSKEY as served, so
  # this proves the signatures match the key the server publishes (the lead's delegation
  # test is the e2e suite's).
  local anchors=$work/$name.anchors spec src region got sig valid bad=0 a qname
  dig +short +time=1 +tries=1 @"$addr" -p "$port" example.test DNSKEY |
    awk '/^25[67] 3 / {k = ""; for (i = 4; i <= NF; i++) k = k $i
                       printf "  example.test. static-key %s %s %s \"%s\";\n", $1, $2, $3, k}' \
      >"$anchors.keys"
  if [ ! -s "$anchors.keys" ]; then
    log "$name: no DNSKEY at example.test; stopping"
    exit 1
  fi
  { echo "trust-anchors {"; cat "$anchors.keys"; echo "};"; } >"$anchors"
  local specs=(127.0.0.1=static)
  case $cases in *pool-dnssec*) specs+=(127.0.1.1=1 127.0.2.1=2 127.0.3.1=3 127.0.4.1=4) ;; esac
  for spec in "${specs[@]}"; do
    src=${spec%=*} region=${spec#*=}
    qname=www.example.test
    [ "$region" = static ] && qname=static.example.test
    # dig +short +dnssec: the addresses, then the RRSIG as "A 13 3 TTL ... TAG SIGNER SIG"
    got=$(dig +short +dnssec +time=1 +tries=1 -b "$src" @"$addr" -p "$port" "$qname" A |
          { grep -v '^;' || true; })
    sig=$(awk '$1 == "A" && NF > 8 {printf "%sRRSIG(A alg %s tag %s)", s, $2, $7; s = " "}' <<<"$got")
    got=$(awk '$0 ~ /^[0-9.]+$/' <<<"$got" | sort | tr '\n' ' ' | sed 's/ $//')
    valid=$(timeout 10 delv -b "$src" @"$addr" -p "$port" -a "$anchors" +root=example.test \
              "$qname" A 2>&1 | sed -n 's/^; \(fully validated\|unsigned answer\|resolution failed.*\|validation failed.*\)$/\1/p' | head -1)
    printf '%-8s dig +dnssec -b %-9s %-19s A -> %s %s; delv: %s\n' "$name" "$src" "$qname" \
      "${got:-(nothing)}" "${sig:-(no RRSIG)}" "${valid:-(no answer)}" | tee -a "$work/checks"
    [ -n "$got" ] && [ -n "$sig" ] && [ "$valid" = "fully validated" ] || bad=1
    for a in $got; do
      case $region:$a in static:192.0.2.1 | [1-4]:192.0.2.${region}[12]) ;; *) bad=1 ;; esac
    done
  done
  if [ $bad != 0 ]; then
    log "$name: a signed answer is missing its RRSIG, does not validate or is not the client's region; stopping"
    exit 1
  fi
}

# --- measuring -------------------------------------------------------------------------------

cpu_ticks() {
  # "busy0 total0 busy1 total1 server ns": CPU 0 and CPU 1 ticks from /proc/stat (busy = user
  # nice system irq softirq; the total leaves out steal), the CPU ticks (utime + stime) of the
  # server's process group, and the clock. Other work on the machine (tests, builds) also
  # lands on CPU 0, so the server's own ticks are the cleaner measure of what it used.
  local stat srv
  stat=$(awk '/^cpu[01] / {printf "%d %d ", $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  # /proc/PID/stat: after "(comm) " come state ppid pgrp ...; utime and stime are the 12th and 13th
  srv=$(cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v g="$server" '{sub(/^.*\) /, "")} $3 == g {t += $12 + $13} END {print t + 0}')
  echo "$stat$srv $(date +%s%N)"
}

# ECS options for pool-ecs, dnsperf -E 8:HEX (RFC 7871 §6): family 1 (IPv4), source /24,
# scope 0, address 3 bytes. Generator R asks for 3.0.0.0/24 US, 2.0.0.0/24 FR, 4.0.0.0/24 JP,
# 5.0.0.0/24 BR: one per region, like the source addresses 127.0.1-4.1 of the other cases.
ECS=(00011800030000 00011800020000 00011800040000 00011800050000)

generator_args() {  # CASE R -> the dnsperf arguments of generator R
  local c=$1 r=$2
  local src=(-a "127.0.$r.1") data
  data=$(query_file "$c")
  [ "$c" = pool-ecs ] && src=(-a 127.0.0.1 -E "8:${ECS[r - 1]}")
  # the -dnssec cases: DO set (dnsperf -D, with EDNS), each from its region's address
  case $c in *-dnssec) src+=(-D) ;; esac
  echo -s "$addr" -p "$port" "${src[@]}" -d "$data" -c 2 -q 64 -t 1
}

measure() {
  # CASE [QPS_LIMIT] -> "qps mean_ms p99_ms lost cpu0% cpu1% srv%" for one round.
  # qps and lost are summed over the four generators, the mean latency is weighted by their
  # completed queries. dnsperf 2.10 has no latency histogram, so generator 1 runs with -v
  # (one line per query, with its latency) and p99 comes from its queries; -v on all four
  # would cost the generators' core a quarter of its throughput, on one it is in the noise.
  local c=$1 limit=${2:-} pids=() r extra t0 t1
  for r in 1 2 3 4; do
    extra=()
    [ $r = 1 ] && extra+=(-v)
    [ -n "$limit" ] && extra+=(-Q "$limit")
    # shellcheck disable=SC2046  # generator_args prints words without spaces inside
    taskset -c 1 dnsperf $(generator_args "$c" "$r") -l "$secs" "${extra[@]}" >"$work/dp.$r" 2>&1 &
    pids+=($!)
  done
  # CPU busy from 1 s into the load to 1 s before its end: leaves out start-up and drain
  sleep 1; t0=$(cpu_ticks); sleep $((secs - 2)); t1=$(cpu_ticks)
  wait "${pids[@]}"
  local p99
  p99=$(awk '/^> / && $NF ~ /^[0-9.]+$/ {print $NF}' "$work/dp.1" | sort -g |
        awk '{v[NR] = $1} END {if (NR) {i = int(NR * 0.99); if (i < NR * 0.99) i++; printf "%.3f", v[i] * 1000} else print "nan"}')
  awk -v p99="$p99" -v t="$t0 $t1" -v hz="$(getconf CLK_TCK)" '
    /Queries completed:/ {done = $3}
    /Queries per second:/ {qps += $4}
    /Queries lost:/ {lost += $3}
    /Average Latency/ {sum += $4 * done; n += done}
    END {
      split(t, x, " ")   # busy0 total0 busy1 total1 server ns, at t0 (1-6) then at t1 (7-12)
      c0 = (x[8] - x[2]) ? 100 * (x[7] - x[1]) / (x[8] - x[2]) : 0
      c1 = (x[10] - x[4]) ? 100 * (x[9] - x[3]) / (x[10] - x[4]) : 0
      srv = 100 * (x[11] - x[5]) / hz / ((x[12] - x[6]) / 1e9)
      printf "%.0f %.3f %s %d %.0f %.0f %.0f\n", qps, n ? 1000 * sum / n : 0, p99, lost, c0, c1, srv
    }' "$work"/dp.[1-4]
}

wait_quiet() {
  # Other work on a shared machine (tests, builds) comes in bursts, and a burst inside a round
  # takes CPU from the server or the generators. Start a round only when both cores were at
  # most 10% busy for a second (the idle server included), waiting up to QUIET_WAIT_S.
  local deadline=$((SECONDS + ${QUIET_WAIT_S:-30})) a b
  while :; do
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x); split(b, y); exit !((y[1] - x[1]) * 100 <= 10 * (y[2] - x[2]))}' && return 0
    if [ $SECONDS -ge $deadline ]; then
      log "the machine did not get quiet within ${QUIET_WAIT_S:-30} s; measuring anyway"
      noisy_rounds=$((noisy_rounds + 1))
      return 0
    fi
  done
}

note_generator_commands() {  # the dnsperf command lines of one case, once per run, for RESULTS.md
  local c=$1 r
  grep -qx "# case $c:.*" "$work/commands" && return 0
  note_command "# case $c: the four generators, here against $name (the same for every server at its address);"
  note_command "# $(basename "$work")/$(basename "$(query_file "$c")") holds 1000 lines \"$(head -1 "$(query_file "$c")")\""
  for r in 1 2 3 4; do
    note_command "taskset -c 1 dnsperf $(generator_args "$c" "$r") -l $secs$([ $r = 1 ] && echo ' -v')"
  done
}

median_row() {  # NAME CASE -> the round with the median qps: "qps mean p99 lost cpu0 cpu1 srv"
  awk -v n="$1" -v c="$2" '$1 == n && $2 == c' "$work/rounds" | sort -k4,4n |
    awk '{$1 = $2 = $3 = ""; row[NR] = substr($0, 4)} END {if (NR) print row[int((NR + 1) / 2)]}'
}

run_target() {
  local t=$1 c r row qps lat p99 lost cpu0 cpu1 limit
  name=$t
  target_info "$t"
  log "== $t at $addr:$port"
  # a leftover server on the address would pass every check in the new one's place
  if [ -n "$(ask static.example.test A)" ]; then
    log "something already answers at $addr:$port; stop it first"
    exit 1
  fi
  "start_$t"
  wait_ready
  case $cases in *pool*) check_regions ;; esac
  case $cases in *-dnssec*) check_signed ;; esac
  for c in $cases; do
    note_generator_commands "$c"
    for r in $(seq "$rounds"); do
      wait_quiet
      row=$(measure "$c")
      echo "$t $c $r $row" >>"$work/rounds"
      printf '%-7s %-9s round %s: %s\n' "$t" "$c" "$r" "$row" >&2
    done
  done
  if [[ " $half_peak " == *" $t "* ]]; then
    for c in $cases; do
      read -r qps _ < <(median_row "$t" "$c")
      limit=$((qps / 2 / 4))  # half the median qps, shared by the four generators
      # a peer gets geodns's offered rate when there is one: the latency floor at that load
      [ "$t" != geodns ] && [ -s "$work/halfpeak" ] &&
        limit=$(awk -v c="$c" '$1 == "geodns" && $2 == c {print $4}' "$work/halfpeak" | grep . || echo "$limit")
      [ "$limit" -gt 0 ] || continue
      note_command "# $t $c at a limited rate: the same generators with -Q $limit each, $rounds rounds"
      # one round's p99 is one sample of a tail the hypervisor and the generators shape as
      # much as the server: take ROUNDS of them and keep the round with the median p99
      : >"$work/limited"
      for r in $(seq "$rounds"); do
        wait_quiet
        row=$(measure "$c" "$limit")
        echo "$row" >>"$work/limited"
        printf '%-7s %-9s limited rate (-Q %s x 4) round %s: %s\n' "$t" "$c" "$limit" "$r" "$row" >&2
      done
      row=$(sort -k3,3g "$work/limited" | awk '{row[NR] = $0} END {print row[int((NR + 1) / 2)]}')
      echo "$t $c $qps $limit $row" >>"$work/halfpeak"
    done
  fi
  stop_server
}

# --- report ----------------------------------------------------------------------------------

ratio() {  # NUM DEN -> NUM/DEN with two decimals, or n/a
  awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b}'
}

per_core() {  # qps busy% -> qps / busy fraction: the qps of one fully busy core
  awk -v q="$1" -v u="$2" 'BEGIN {if (q == "" || u == "" || u == 0) print ""; else printf "%.0f", q * 100 / u}'
}

ratio_lines() {  # the geodns/peer ratios, one line each
  # qps: as measured; per cpu0 and per server cpu: each side's qps divided by its CPU 0 busy
  # fraction, or by its own process CPU fraction (see "Figures" in RESULTS.md). Targets:
  # issue 11 (gdnsd, Knot) for the native data plane; the earlier ones for both.
  # Issue 13 (signed): geodns's signed pool against PowerDNS's signed LUA record, and
  # against geodns's own unsigned pool (the fifth field: the case of the denominator).
  local spec c peer target g u s gq gu gs pq pu ps ours pc
  for spec in static:knot:1.0:geodns pool:gdnsd:1.0:geodns pool-ecs:gdnsd:1.0:geodns \
              pool:pdns:2.0:geodns pool-ecs:pdns:2.0:geodns static:dnslib:15:geodns \
              static:knot:0.5:geodns-py pool:pdns:2.0:geodns-py pool-ecs:pdns:2.0:geodns-py \
              static:dnslib:15:geodns-py \
              pool-dnssec:pdnssign:2.0:geodns pool-dnssec:geodns:0.5:geodns:pool \
              static-dnssec:knotsign:-:geodns pool-dnssec:pdnssign:-:geodns-py \
              pool-dnssec:geodns-py:-:geodns-py:pool static-dnssec:knotsign:-:geodns-py; do
    IFS=: read -r c peer target ours pc <<<"$spec"
    read -r gq _ _ _ gu _ gs < <(median_row "$ours" "$c"; echo)
    read -r pq _ _ _ pu _ ps < <(median_row "$peer" "${pc:-$c}"; echo)
    [ -n "${gq:-}" ] && [ -n "${pq:-}" ] || continue
    g=$(ratio "${gq:-}" "${pq:-}")
    u=$(ratio "$(per_core "${gq:-}" "${gu:-}")" "$(per_core "${pq:-}" "${pu:-}")")
    s=$(ratio "$(per_core "${gq:-}" "${gs:-}")" "$(per_core "${pq:-}" "${ps:-}")")
    [ -n "$pc" ] && peer="$peer $pc"
    printf '%-13s %9s/%-11s  qps %5s  per cpu0 %5s  per server cpu %5s  target %s\n' \
      "$c" "$ours" "$peer" "$g" "$u" "$s" "$([ "$target" = - ] && echo none || echo ">= $target")"
  done
  if [ -s "$work/halfpeak" ]; then
    # with Knot's p99 at the same offered rate beside it: the part the machine adds
    awk '{p99[$1, $2] = $7} $1 == "geodns" {row[++n] = $0}
      END {for (i = 1; i <= n; i++) {split(row[i], f, " ")
        floor = (("knot", f[2]) in p99) ? sprintf("   (knot at that rate: %s ms)", p99["knot", f[2]]) : ""
        printf "%-8s geodns p99 at half peak (%d of %d qps): %s ms   target <= Knot%s\n", f[2], f[5], f[3], f[7], floor}}' "$work/halfpeak"
  fi
}

case_table() {  # CASE -> markdown table of the median rounds
  local c=$1 t qps lat p99 lost cpu0 cpu1 srv spread
  echo "| server | qps | mean ms | p99 ms | lost | cpu0 % | cpu1 % | server cpu % | qps/cpu0 | qps/server cpu | qps of every round |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for t in "${targets[@]}"; do
    read -r qps lat p99 lost cpu0 cpu1 srv < <(median_row "$t" "$c"; echo)
    [ -n "${qps:-}" ] || continue
    spread=$(awk -v n="$t" -v c="$c" '$1 == n && $2 == c {printf "%s%s", s, $4; s = " · "}' "$work/rounds")
    echo "| $t | $qps | $lat | $p99 | $lost | $cpu0 | $cpu1 | $srv | $(per_core "$qps" "$cpu0") | $(per_core "$qps" "$srv") | $spread |"
  done
}

write_results() {
  local kept="" c
  if [ -f "$results" ] && grep -qF "$keep_marker" "$results"; then
    kept=$(awk -v m="$keep_marker" 'seen {print} $0 == m {seen = 1}' "$results")
  fi
  {
    echo "# geodns benchmark results"
    echo
    echo "Written by \`bench/run.sh $secs $rounds ${targets[*]}\` (scenario and method: bench/README.md)."
    echo
    echo "- date: $(date -u '+%F %T') UTC"
    echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, Linux $(uname -r), $(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release)"
    echo "- load average when the run began: $load_at_start; rounds started without a quiet second"
    echo "  before them (both cores <= 10% busy, waited for up to ${QUIET_WAIT_S:-30} s): $noisy_rounds"
    echo "- $secs s per round, $rounds rounds per case; the tables show the round with the median qps"
    echo
    echo "## Versions"
    echo
    local t
    for t in "${targets[@]}"; do version_of "$t" | sed 's/^/- /; s/^-   /  /'; done
    echo "- dnsperf $(dpkg-query -W -f='${Version}' dnsperf), dig $(dig -v 2>&1 | awk '{print $2}')"
    echo
    echo "## Commands"
    echo
    echo '```'
    cat "$work/commands"
    echo '```'
    echo
    echo "## Correctness (dig, before measuring)"
    echo
    echo '```'
    if [ -s "$work/checks" ]; then cat "$work/checks"; else echo "(no pool target in this run)"; fi
    echo '```'
    echo
    echo "Every server also answered static.example.test A with 192.0.2.1 before its rounds."
    echo
    echo "## Figures"
    echo
    echo "qps and lost: summed over the four generators; mean: dnsperf's mean latency, weighted by"
    echo "queries; p99: from generator 1's per-query latencies (dnsperf -v); cpu0 % and cpu1 %: the"
    echo "server's and the generators' core busy (/proc/stat, steal left out; includes the kernel's"
    echo "loopback work and anything else that ran there); server cpu %: the server's own processes"
    echo "(utime + stime); qps/cpu0 and qps/server cpu: qps divided by that busy fraction, the"
    echo "estimate of one core's capacity when the generators (CPU 1 near 100%), not the server,"
    echo "were the limit."
    for c in static pool pool-ecs static-dnssec pool-dnssec; do
      grep -q " $c " "$work/rounds" 2>/dev/null || continue
      echo
      echo "### $c"
      echo
      case_table "$c"
    done
    if [ -s "$work/halfpeak" ]; then
      echo
      echo "### p99 latency at a limited rate (dnsperf -Q)"
      echo
      echo "geodns at half its own median qps; a peer at the same offered rate as geodns in that"
      echo "case (else half its own peak). Issue 11's target: geodns's p99 no worse than Knot's at"
      echo "the same offered rate, which is what this machine and the generators add whatever the"
      echo "server. Each row is the round with the median p99 of ROUNDS rounds at that rate."
      echo
      echo "| server | case | its median qps | dnsperf -Q (x4) | qps measured | mean ms | p99 ms | lost | cpu0 % | server cpu % |"
      echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
      awk '{printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $11}' "$work/halfpeak"
    fi
    echo
    echo "## Ratios geodns/peer (median rounds)"
    echo
    echo '```'
    ratio_lines
    echo '```'
    echo
    echo "## Every round"
    echo
    echo '```'
    echo "server case round qps mean_ms p99_ms lost cpu0% cpu1% server_cpu%"
    cat "$work/rounds"
    echo '```'
    echo
    echo "$keep_marker"
    if [ -n "$kept" ]; then
      printf '%s\n' "$kept"
    else
      echo
      echo "## Notes (kept across runs: top costs before/after, analysis)"
    fi
  } >"$results.tmp"
  mv "$results.tmp" "$results"
}

main() {
  local t
  for t in "${targets[@]}"; do target_info "$t"; done  # an unknown name fails before any work
  install_packages
  write_query_files
  load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
  noisy_rounds=0
  : >"$work/rounds"
  : >"$work/commands"
  for t in "${targets[@]}"; do run_target "$t"; done
  write_results
  log "wrote $results"
  echo
  echo "ratios geodns/peer (median rounds of this run)"
  ratio_lines
}

main
