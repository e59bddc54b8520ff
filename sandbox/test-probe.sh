#!/usr/bin/env bash
# Self-test of the traffic probe (sandbox/probe.sh, sandbox/probe_parse.py), without the Calico sandbox:
# the parser on canned ping logs (duplicates, out-of-order and late replies, "no answer yet", errors, an
# empty log), then real pingers between two throwaway network namespaces joined by a veth
# (prbtest-<pid>-a 198.18.0.1 / 2001:db8:18::1, prbtest-<pid>-b .2 / ::2; RFC 2544 and documentation
# ranges, on no other interface): undisturbed, the sender's link down ~1 s, the receiver's link down
# ~1 s, a destination that never answers (routed to b, which drops it), a netns that does not exist,
# the PROBE_MAX_SECONDS bound, probe_stop_all, and the command-line form. Needs root and `ip netns`;
# installs iputils-ping when missing. Takes ~25 s. Ends with `test-probe: N passed, M failed` and exits
# non-zero on any failure. Namespaces, pingers and the temporary probe dir go at exit (trap).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "test-probe: $pass passed, $fail failed"; [[ $fail == 0 ]]; exit $?; }
# expect DESCRIPTION ARITHMETIC-EXPR [DETAIL]
expect() { if (($2)); then ok "$1${3:+ ($3)}"; else bad "$1: want $2${3:+ ($3)}"; fi; }

if [[ "$(id -u)" != 0 ]] || ! ip netns list >/dev/null 2>&1; then
  bad "needs root and ip netns"; finish
fi
if ! command -v ping >/dev/null; then
  echo "test-probe: installing iputils-ping"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iputils-ping >/dev/null; } 2>&1 | tail -3
  command -v ping >/dev/null || { bad "no ping (apt-get install iputils-ping failed)"; finish; }
fi

T=$(mktemp -d /tmp/test-probe.XXXXXX)
export PROBE_DIR="$T/probe"
source "$HERE/probe.sh"
A="prbtest-$$-a" B="prbtest-$$-b" NOSUCH="prbtest-$$-nosuch"
A4=198.18.0.1 B4=198.18.0.2 A6=2001:db8:18::1 B6=2001:db8:18::2 DEAD=198.18.1.1

net_down() { ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null; true; }
cleanup() { probe_stop_all >/dev/null 2>&1; net_down; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# A killed earlier run's namespaces (its pid is gone)
for ns in $(ip netns list | awk '{print $1}' | grep -E '^prbtest-[0-9]+-'); do
  p=${ns#prbtest-}; p=${p%%-*}; [[ -d /proc/$p ]] || ip netns del "$ns" 2>/dev/null
done

# net_up : a fresh pair of namespaces (each live test starts from it; a link down drops routes)
net_up() {
  net_down
  ip netns add "$A" && ip netns add "$B" &&
    ip link add va netns "$A" type veth peer name vb netns "$B" &&
    ip -n "$A" addr add $A4/29 dev va && ip -n "$B" addr add $B4/29 dev vb &&
    ip -n "$A" addr add $A6/64 dev va nodad && ip -n "$B" addr add $B6/64 dev vb nodad &&
    ip -n "$A" link set lo up && ip -n "$B" link set lo up &&
    ip -n "$A" link set va up && ip -n "$B" link set vb up &&
    ip -n "$A" route add 198.18.1.0/24 via $B4 && ip -n "$B" route add blackhole 198.18.1.0/24 || return 1
  # Steady state before measuring: the first IPv6 packet waits ~1 s for neighbour discovery (the
  # link-local address is still tentative), which the probe would rightly report as a gap.
  local i
  for ((i = 0; i < 10; i++)); do
    timeout 3 ip netns exec "$A" ping -n -q -c 1 -W 1 $B6 >/dev/null 2>&1 &&
      timeout 3 ip netns exec "$B" ping -n -q -c 1 -W 1 $A6 >/dev/null 2>&1 &&
      timeout 3 ip netns exec "$A" ping -n -q -c 1 -W 1 $B4 >/dev/null 2>&1 && return 0
  done
  return 1
}
# f NAME SRC DEST KEY : a field of a stopped probe's pair
f() { _probe_field "$(grep -F " pair=$2->$3 " "$PROBE_DIR/$1/result")" "$4"; }
# figs NAME SRC DEST : the pair's figures, for messages
figs() { grep -F " pair=$2->$3 " "$PROBE_DIR/$1/result" | cut -d' ' -f4-; }
run_for() { sleep "$1"; }

# ------------------------------------------------------------------------------------------ parser
P="$HERE/probe_parse.py"
C="$T/canned"; mkdir -p "$C"
# Seq k sent at 100.0 + 0.1 (k-1); 3 answered late (after 4), 5-8 lost, a DUP of 4 in the middle of the
# outage (must not shorten the gap), a reply from another address, an ICMP error, 10 in flight at stop.
cat >"$C/mixed.log" <<'EOF'
PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data.
[100.000100] 64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=0.05 ms
[100.100100] 64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=0.05 ms
[100.100200] 64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=0.06 ms (DUP!)
[100.300000] no answer yet for icmp_seq=3
[100.300100] 64 bytes from 198.18.0.2: icmp_seq=4 ttl=64 time=0.05 ms
[100.350000] 64 bytes from 198.18.0.2: icmp_seq=3 ttl=64 time=150 ms
[100.500000] no answer yet for icmp_seq=5
[100.600000] no answer yet for icmp_seq=6
[100.600100] 64 bytes from 198.18.0.2: icmp_seq=4 ttl=64 time=300 ms (DUP!)
[100.650000] From 198.18.0.1 icmp_seq=5 Destination Host Unreachable
[100.700000] no answer yet for icmp_seq=7
[100.700100] 64 bytes from 198.18.0.9: icmp_seq=7 ttl=64 time=0.05 ms
[100.800000] no answer yet for icmp_seq=8
[100.800100] 64 bytes from 198.18.0.2: icmp_seq=9 ttl=64 time=0.05 ms
--- 198.18.0.2 ping statistics ---
10 packets transmitted, 5 received, +2 duplicates, +1 errors, 50% packet loss, time 900ms
EOF
r=$(python3 "$P" "$C/mixed.log" --start 100.0 --stop 100.95 --dest 198.18.0.2)
want="status=ok sent=9 received=5 lost=4 dup=2 in_flight=1 errors=1 foreign=1 max_gap_ms=450 max_gap_at_ms=350 duration_ms=950"
[[ "$r" == "$want" ]] && ok "parser: DUP, out-of-order, late, foreign, error, in flight: $r" || bad "parser mixed: got '$r', want '$want'"
# The same log without --dest: the foreign reply (seq 7) counts, which shortens the outage.
r=$(python3 "$P" "$C/mixed.log" --start 100.0 --stop 100.95)
[[ "$(_probe_field "$r" received) $(_probe_field "$r" lost) $(_probe_field "$r" foreign)" == "6 3 0" ]] \
  && ok "parser: without --dest every reply counts ($r)" || bad "parser without --dest: $r"

: >"$C/empty.log"
r=$(python3 "$P" "$C/empty.log" --start 10 --stop 13 --dest 198.18.0.2)
[[ "$r" == "status=error sent=0 received=0 lost=0 dup=0 in_flight=0 errors=0 foreign=0 max_gap_ms=3000 max_gap_at_ms=0 duration_ms=3000 reason=ping did not start: empty log" ]] \
  && ok "parser: empty log is an error, gap = whole duration ($r)" || bad "parser empty: $r"
r=$(python3 "$P" "$C/missing.log" --start 10 --stop 11)
[[ "$(_probe_field "$r" status)" == error ]] && ok "parser: missing log is an error" || bad "parser missing log: $r"

{ echo "PING 198.18.1.1 (198.18.1.1) 56(84) bytes of data."
  for s in $(seq 1 29); do printf '[%s] no answer yet for icmp_seq=%d\n' "$(awk -v s="$s" 'BEGIN{printf "%.6f", 10 + 0.1 * s}')" "$s"; done
  echo "--- 198.18.1.1 ping statistics ---"; echo "30 packets transmitted, 0 received, 100% packet loss, time 2900ms"
} >"$C/dead.log"
r=$(python3 "$P" "$C/dead.log" --start 10 --stop 13 --dest 198.18.1.1)
[[ "$r" == "status=ok sent=29 received=0 lost=29 dup=0 in_flight=1 errors=0 foreign=0 max_gap_ms=3000 max_gap_at_ms=0 duration_ms=3000" ]] \
  && ok "parser: never answered: all lost, gap = duration ($r)" || bad "parser dead: $r"

# ENOBUFS backoff: ping repeats "no answer yet" for the same seq without sending; 3 is lost, not in flight.
printf '%s\n' "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data." \
  "[1.0] 64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=0.1 ms" "[1.1] 64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=0.1 ms" \
  "[1.3] no answer yet for icmp_seq=3" "[1.4] no answer yet for icmp_seq=3" "[1.5] no answer yet for icmp_seq=3" \
  "--- 198.18.0.2 ping statistics ---" "3 packets transmitted, 2 received, 33.3333% packet loss, time 500ms" >"$C/repeat.log"
r=$(python3 "$P" "$C/repeat.log" --start 1.0 --stop 1.6 --dest 198.18.0.2)
[[ "$(_probe_field "$r" sent) $(_probe_field "$r" lost) $(_probe_field "$r" in_flight) $(_probe_field "$r" max_gap_ms)" == "3 1 0 500" ]] \
  && ok "parser: repeated 'no answer yet' for one seq ($r)" || bad "parser repeat: $r"

# Replies only from 0.8 s on (seq 8-10): the gap from the start to the first reply counts.
{ echo "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data."
  for s in $(seq 1 7); do printf '[%s] no answer yet for icmp_seq=%d\n' "$(awk -v s="$s" 'BEGIN{printf "%.6f", 5 + 0.1 * s}')" "$s"; done
  for s in 8 9 10; do printf '[%s] 64 bytes from 198.18.0.2: icmp_seq=%d ttl=64 time=0.1 ms\n' "$(awk -v s="$s" 'BEGIN{printf "%.6f", 5 + 0.1 * (s - 1)}')" "$s"; done
  echo "--- 198.18.0.2 ping statistics ---"; echo "10 packets transmitted, 3 received, 70% packet loss, time 900ms"
} >"$C/late.log"
r=$(python3 "$P" "$C/late.log" --start 5.0 --stop 5.95 --dest 198.18.0.2)
[[ "$r" == "status=ok sent=10 received=3 lost=7 dup=0 in_flight=0 errors=0 foreign=0 max_gap_ms=700 max_gap_at_ms=0 duration_ms=950" ]] \
  && ok "parser: the gap from the start to the first reply counts ($r)" || bad "parser late start: $r"

echo 'Cannot open network namespace "prbtest-x": No such file or directory' >"$C/badns.log"
r=$(python3 "$P" "$C/badns.log" --start 1 --stop 2 --dest 198.18.0.2)
[[ "$r" == *"status=error"*"reason=ping did not start: Cannot open network namespace"* ]] \
  && ok "parser: bad netns is an error ($r)" || bad "parser badns: $r"

printf '%s\n' "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data." "[1.0] 64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=0.1 ms" >"$C/nosum.log"
r=$(python3 "$P" "$C/nosum.log" --start 1.0 --stop 1.05 --dest 198.18.0.2)
[[ "$r" == *"status=error"*"received=1"*"reason=no summary from ping"* ]] && ok "parser: no summary is an error ($r)" || bad "parser nosum: $r"

printf '%s\n' "PING 2001:db8::2(2001:db8::2) 56 data bytes" "[1.0] 64 bytes from 2001:db8::2: icmp_seq=1 ttl=64 time=0.1 ms" \
  "--- 2001:db8::2 ping statistics ---" "1 packets transmitted, 1 received, 0% packet loss, time 0ms" >"$C/v6.log"
r=$(python3 "$P" "$C/v6.log" --start 1.0 --stop 1.1 --dest 2001:db8:0:0::2)
[[ "$(_probe_field "$r" received) $(_probe_field "$r" foreign) $(_probe_field "$r" status)" == "1 0 ok" ]] \
  && ok "parser: IPv6 destination compared as an address ($r)" || bad "parser v6: $r"

# --------------------------------------------------------------------------------------------- live
net_up || { bad "cannot create the test namespaces"; finish; }
# 1. Undisturbed, three pairs (both directions, and IPv6): nothing lost, no gap over 300 ms.
probe_start base "$A" $B4 "$B" $A4 "$A" $B6 >/dev/null || bad "probe_start base returned non-zero"
run_for 3
probe_stop base | sed 's/^/  /'
for pr in "$A $B4" "$B $A4" "$A $B6"; do
  set -- $pr
  s=$(f base "$1" "$2" sent); l=$(f base "$1" "$2" lost); g=$(f base "$1" "$2" max_gap_ms); st=$(f base "$1" "$2" status)
  expect "undisturbed $1->$2: ok, >= 25 sent, 0 lost, gap < 300 ms" "$(echo "${st}" | grep -c '^ok$') == 1 && $s >= 25 && $l == 0 && $g < 300" "$(figs base "$1" "$2")"
done
out=$( (probe_assert base 0 300) 2>&1 ) && ok "probe_assert base 0 300 passes: $out" || bad "probe_assert base 0 300 failed: $out"

# 2. The sender's link down ~1 s: packets dropped at the sender.
net_up || bad "net_up"
probe_start down "$A" $B4 >/dev/null
run_for 1; ip -n "$A" link set va down; run_for 1; ip -n "$A" link set va up; run_for 1
probe_stop down | sed 's/^/  /'
l=$(f down "$A" $B4 lost); g=$(f down "$A" $B4 max_gap_ms)
expect "sender link down 1 s: >= 5 lost, gap >= 900 ms" "$l >= 5 && $g >= 900" "$(figs down "$A" $B4)"
if out=$( (probe_assert down 0 300) 2>&1 ); then bad "probe_assert down 0 300 passed: $out"
elif [[ "$out" == *"FAIL: "*"$A->$B4: sent "*", lost $l (max 0), longest gap $g ms (max 300)"* ]]; then ok "probe_assert down 0 300 fails, naming pair and figures: $out"
else bad "probe_assert down 0 300 failed without naming pair and figures: $out"; fi
out=$( (probe_assert down 20 2000) 2>&1 ) && ok "probe_assert down 20 2000 passes: $out" || bad "probe_assert down 20 2000 failed: $out"

# 3. The receiver's link down ~1 s: the kernel holds the requests in the unresolved-neighbour queue and
#    delivers them when the link returns (few or none lost), but no reply comes for ~1 s: the gap shows it.
net_up || bad "net_up"
probe_start stall "$A" $B4 >/dev/null
run_for 1; ip -n "$B" link set vb down; run_for 1; ip -n "$B" link set vb up; run_for 1
probe_stop stall | sed 's/^/  /'
g=$(f stall "$A" $B4 max_gap_ms)
expect "receiver link down 1 s: gap >= 900 ms whatever the loss" "$g >= 900" "$(figs stall "$A" $B4)"
out=$( (probe_assert stall 1000 300) 2>&1 ) && bad "probe_assert stall 1000 300 passed: $out" || ok "probe_assert stall 1000 300 fails on the gap alone: $out"

# 4. A destination that never answers (routed to b, which blackholes it).
net_up || bad "net_up"
probe_start dead "$A" $DEAD >/dev/null
run_for 3
probe_stop dead | sed 's/^/  /'
s=$(f dead "$A" $DEAD sent); rc=$(f dead "$A" $DEAD received); l=$(f dead "$A" $DEAD lost)
g=$(f dead "$A" $DEAD max_gap_ms); d=$(f dead "$A" $DEAD duration_ms)
expect "never answers: all lost, gap = duration" "$s >= 20 && $rc == 0 && $l == $s && $g == $d && $d >= 2900" "$(figs dead "$A" $DEAD)"
out=$( (probe_assert dead 20 2000) 2>&1 ) && bad "probe_assert dead 20 2000 passed: $out" || ok "probe_assert dead 20 2000 fails: $out"

# 5. A source netns that does not exist, next to a good pair: probe_start says so; never a pass.
if out=$(probe_start mixed "$A" $B4 "$NOSUCH" $B4); then bad "probe_start with a bad netns returned 0: $out"
else ok "probe_start with a bad netns returns non-zero: $(tail -1 <<<"$out")"; fi
run_for 0.5
probe_stop mixed | sed 's/^/  /'
expect "bad netns: its pair is in error, the good one ok" "$(f mixed "$NOSUCH" $B4 status | grep -c '^error$') == 1 && $(f mixed "$A" $B4 status | grep -c '^ok$') == 1" "$(figs mixed "$NOSUCH" $B4)"
out=$( (probe_assert mixed 1000000 1000000) 2>&1 ) && bad "probe_assert with a bad netns passed: $out" \
  || { [[ "$out" == *"$NOSUCH->$B4: ping did not start"* ]] && ok "probe_assert fails for the bad netns: $out" || bad "probe_assert bad netns, unexpected message: $out"; }

# 6. The hard bound: with PROBE_MAX_SECONDS=1 the pinger ends by itself, and probe_stop calls that an error.
PROBE_MAX_SECONDS=1 probe_start short "$A" $B4 >/dev/null
pid=$(cat "$PROBE_DIR/short/1.pid")
run_for 2.5
[[ -d /proc/$pid && -n "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")" ]] && bad "pinger $pid still runs after PROBE_MAX_SECONDS=1" || ok "PROBE_MAX_SECONDS=1: the pinger ended by itself"
probe_stop short >/dev/null
out=$( (probe_assert short 1000 100000) 2>&1 ) && bad "a pinger that ended early passed: $out" \
  || { [[ "$out" == *"ended before probe_stop"* ]] && ok "a pinger that ended before probe_stop fails: $out" || bad "early end, unexpected message: $out"; }

# 7. probe_stop_all stops every pinger still running.
probe_start left1 "$A" $B4 >/dev/null; probe_start left2 "$B" $A4 "$B" $A6 >/dev/null
pids="$(cat "$PROBE_DIR"/left1/*.pid "$PROBE_DIR"/left2/*.pid | xargs)"
out=$(probe_stop_all)
alive=""; for p in $pids; do [[ -n "$(tr -d '\0' 2>/dev/null <"/proc/$p/cmdline")" ]] && alive+="$p "; done
[[ -z "$alive" && "$out" == *"stopped 3 pinger"* ]] && ok "probe_stop_all: $out" || bad "probe_stop_all left '$alive' running: $out"

# 8. The command-line form, start and stop from separate processes.
bash "$HERE/probe.sh" start cli "$A" $B4 >/dev/null; run_for 1
out=$(bash "$HERE/probe.sh" stop cli)
expect "command line: start, stop in another process" "$(f cli "$A" $B4 received) >= 8 && $(f cli "$A" $B4 lost) == 0" "$(figs cli "$A" $B4)"
out=$(bash "$HERE/probe.sh" assert cli 0 300) && ok "command line assert: $out" || bad "command line assert: $out"

# Nothing of ours left running.
left=""
for p in /proc/[0-9]*; do c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline"); [[ "$c" == *"netns exec prbtest-$$-"* ]] && left+="${p#/proc/} "; done
[[ -z "$left" ]] && ok "no pinger left running" || bad "pingers left running: $left"
finish
