# Continuous traffic probe (issue 13), sourced by the e2e scripts (after lib.sh) or run as
# `bash sandbox/probe.sh start|stop|check|assert|stop-all ARGS...`. One background pinger per
# (source netns, destination) pair, every $PROBE_INTERVAL s (0.1), while a change happens; then per
# pair: sent, received, lost and the longest time without a reply (sandbox/probe_parse.py).
#
#   probe_start NAME SRC_NETNS DEST [SRC_NETNS DEST ...]   start the pingers; returns 1 if one did not start
#   probe_stop NAME                                        stop them (SIGINT), print one line per pair
#   probe_check NAME MAX_LOST MAX_GAP_MS                   returns 1, naming pairs and figures, when over
#   probe_assert NAME MAX_LOST MAX_GAP_MS                  the same, but `die`s
#   probe_stop_all                                         stop every pinger still running (for a trap)
#
# State and logs: $PROBE_DIR/NAME/ (default ${E:-$S/e2e}/logs/probe). Every pinger is bounded: ping -w
# $PROBE_MAX_SECONDS (900) inside `timeout`, so a killed e2e leaves nothing running for long. Each
# pinger is `ip netns exec SRC ping` to an address in the sandbox's own namespaces only.
[[ -n "${S:-}" ]] || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PROBE_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROBE_MAX_SECONDS="${PROBE_MAX_SECONDS:-900}"
PROBE_INTERVAL="${PROBE_INTERVAL:-0.1}"
declare -F die >/dev/null || die() { echo "FAIL: $*"; exit 1; }

_probe_root() { echo "${PROBE_DIR:-${E:-$S/e2e}/logs/probe}"; }
_probe_now() { date +%s.%N; }
# _probe_ours DIR K : pinger K of DIR runs, and is the one we started (its command line names its pair)
_probe_ours() {
  local pid src dest cmd
  pid=$(cat "$1/$2.pid" 2>/dev/null) || return 1
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  read -r src dest <"$1/$2.pair"
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ "$cmd" == *" netns exec $src ping "* && "$cmd" == *" $dest " ]]
}
_probe_pairs() { local f; for f in "$1"/*.pair; do [[ -e "$f" ]] && basename "$f" .pair; done | sort -n; }
_probe_field() { local l="${1%% reason=*}"; grep -oE "(^| )$2=[^ ]*" <<<"$l" | head -1 | sed -E "s/^ ?$2=//"; }

# probe_start NAME SRC_NETNS DEST [SRC_NETNS DEST ...]
probe_start() {
  local name="${1:-}"; shift || true
  [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "probe_start: bad probe name '$name'"
  [[ $# -ge 2 && $(($# % 2)) == 0 ]] || die "probe_start $name: want SRC_NETNS DEST pairs, got: $*"
  command -v ping >/dev/null || die "probe_start $name: no ping (apt-get install iputils-ping)"
  local d k=0 src dest started=() bad="" i
  d="$(_probe_root)/$name"
  if [[ -d "$d" && ! -e "$d/stop" ]]; then
    for k in $(_probe_pairs "$d"); do _probe_ours "$d" "$k" && die "probe $name is already running ($d)"; done
  fi
  rm -rf "$d"; mkdir -p "$d" || die "probe_start $name: cannot create $d"
  _probe_now >"$d/start"
  k=0
  while [[ $# -gt 0 ]]; do
    src="$1" dest="$2"; shift 2; k=$((k + 1))
    echo "$src $dest" >"$d/$k.pair"
    # --foreground: the SIGINT of probe_stop reaches ping once (ping stays in our process group, so a
    # kill of the whole e2e's group ends it too). -w: ping's own hard deadline; timeout is the backstop.
    timeout --foreground -k 5 $((PROBE_MAX_SECONDS + 10)) \
      ip netns exec "$src" ping -n -D -O -i "$PROBE_INTERVAL" -W 1 -w "$PROBE_MAX_SECONDS" "$dest" \
      >"$d/$k.log" 2>&1 </dev/null &
    echo $! >"$d/$k.pid"
    started+=("$src->$dest")
  done
  # Wait (at most 5 s) for every pinger's "PING" header: the change must not begin before they send.
  for k in $(_probe_pairs "$d"); do
    for ((i = 0; i < 100; i++)); do
      grep -q '^PING ' "$d/$k.log" 2>/dev/null && break
      _probe_ours "$d" "$k" || break
      sleep 0.05
    done
    if ! grep -q '^PING ' "$d/$k.log" 2>/dev/null; then
      read -r src dest <"$d/$k.pair"
      bad+="$src->$dest: $(head -c 300 "$d/$k.log" 2>/dev/null | tr -s '\n ' '  '); "
    fi
  done
  echo "probe $name: started ${#started[@]} pinger(s) every ${PROBE_INTERVAL}s, at most ${PROBE_MAX_SECONDS}s: ${started[*]}"
  if [[ -n "$bad" ]]; then echo "probe $name: did not start: ${bad%; }"; return 1; fi
}

# probe_stop NAME : SIGINT every pinger, then one line per pair and a total. Idempotent.
probe_stop() {
  local name="${1:-}" d k pid src dest i alive line err stop
  d="$(_probe_root)/$name"
  [[ -n "$name" && -s "$d/start" ]] || die "probe_stop: no probe '$name' in $(_probe_root)"
  if [[ ! -e "$d/stop" ]]; then
    stop=$(_probe_now)
    for k in $(_probe_pairs "$d"); do
      if _probe_ours "$d" "$k"; then kill -INT "$(cat "$d/$k.pid")" 2>/dev/null || true
      else echo "the pinger had ended before probe_stop" >"$d/$k.early"; fi
    done
    for ((i = 0; i < 40; i++)); do   # at most 4 s for ping to print its summary and exit
      alive=0
      for k in $(_probe_pairs "$d"); do _probe_ours "$d" "$k" && alive=1; done
      [[ $alive == 0 ]] && break
      sleep 0.1
    done
    for k in $(_probe_pairs "$d"); do
      if _probe_ours "$d" "$k"; then
        pid=$(cat "$d/$k.pid"); pkill -KILL -P "$pid" 2>/dev/null || true   # ping, then its timeout
        kill -KILL "$pid" 2>/dev/null || true
        echo "the pinger did not stop on SIGINT (killed)" >"$d/$k.early"
      fi
    done
    : >"$d/result"
    for k in $(_probe_pairs "$d"); do
      read -r src dest <"$d/$k.pair"
      err=()
      [[ -s "$d/$k.early" ]] && err=(--error "$(cat "$d/$k.early")")
      line=$(python3 "$PROBE_LIB/probe_parse.py" "$d/$k.log" --start "$(cat "$d/start")" --stop "$stop" \
        --dest "$dest" "${err[@]}" 2>&1) || line="status=error reason=probe_parse.py failed: $(tr '\n' ' ' <<<"$line")"
      echo "probe $name pair=$src->$dest $line" >>"$d/result"
    done
    echo "$stop" >"$d/stop"
  fi
  cat "$d/result"
  awk -v name="$name" '
    { for (i = 3; i <= NF; i++) { if ($i ~ /^reason=/) break; split($i, kv, "="); f[kv[1]] = kv[2] }
      n++; sent += f["sent"]; lost += f["lost"]; if (f["status"] != "ok") bad++
      if (f["max_gap_ms"] + 0 >= gap) { gap = f["max_gap_ms"] + 0; at = substr($3, 6) }
      if (f["duration_ms"] + 0 > dur) dur = f["duration_ms"] + 0 }
    END { printf "probe %s: %d pair(s) over %.1f s: %d sent, %d lost, longest gap %d ms (%s)%s\n",
            name, n, dur / 1000, sent, lost, gap, at, bad ? sprintf(", %d pair(s) in error", bad) : "" }' "$d/result"
}

# probe_check NAME MAX_LOST MAX_GAP_MS : stops the probe if needed; returns 1 when a pair lost more than
# MAX_LOST packets, had a gap over MAX_GAP_MS, sent nothing, or is in error (ping did not start, ended
# early): prints those pairs with their figures.
probe_check() {
  local name="${1:-}" max_lost="${2:-}" max_gap="${3:-}" d line pair status sent lost gap bad="" n=0
  [[ "$max_lost" =~ ^[0-9]+$ && "$max_gap" =~ ^[0-9]+$ ]] || die "probe_check $name: want MAX_LOST MAX_GAP_MS, got '$max_lost' '$max_gap'"
  d="$(_probe_root)/$name"
  [[ -e "$d/stop" ]] || probe_stop "$name" >/dev/null
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    n=$((n + 1))
    pair=$(_probe_field "$line" pair); status=$(_probe_field "$line" status)
    sent=$(_probe_field "$line" sent); lost=$(_probe_field "$line" lost); gap=$(_probe_field "$line" max_gap_ms)
    if [[ "$status" != ok ]]; then bad+="$pair: ${line#* reason=}; "
    elif [[ ! "$sent" =~ ^[0-9]+$ || "$sent" == 0 ]]; then bad+="$pair: sent nothing; "
    elif ((lost > max_lost || gap > max_gap)); then
      bad+="$pair: sent $sent, lost $lost (max $max_lost), longest gap ${gap} ms (max $max_gap); "
    fi
  done <"$d/result"
  [[ $n -gt 0 ]] || bad="no pair measured; "
  if [[ -n "$bad" ]]; then echo "probe $name over its bounds: ${bad%; }"; return 1; fi
  echo "probe $name within bounds (lost <= $max_lost, gap <= $max_gap ms) on $n pair(s)"
}

# probe_assert NAME MAX_LOST MAX_GAP_MS : probe_check, or die naming the pairs and figures
probe_assert() {
  local out
  if out=$(probe_check "$@"); then echo "$out"; return 0; fi
  die "${out#FAIL: }"
}

# probe_stop_all : SIGINT every pinger of every probe under the probe dir that still runs (then KILL);
# quiet when none runs. For `trap probe_stop_all EXIT`.
probe_stop_all() {
  local root d k i alive stopped=()
  root="$(_probe_root)"
  [[ -d "$root" ]] || return 0
  for d in "$root"/*/; do
    d="${d%/}"
    for k in $(_probe_pairs "$d"); do
      _probe_ours "$d" "$k" && { kill -INT "$(cat "$d/$k.pid")" 2>/dev/null || true; stopped+=("$(basename "$d")/$k"); }
    done
  done
  [[ ${#stopped[@]} -gt 0 ]] || return 0
  for ((i = 0; i < 30; i++)); do
    alive=0
    for d in "$root"/*/; do for k in $(_probe_pairs "${d%/}"); do _probe_ours "${d%/}" "$k" && alive=1; done; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for d in "$root"/*/; do
    for k in $(_probe_pairs "${d%/}"); do
      _probe_ours "${d%/}" "$k" && { kill -KILL "$(cat "${d%/}/$k.pid")" 2>/dev/null || true; }
    done
  done
  echo "probe: stopped ${#stopped[@]} pinger(s) left running (${stopped[*]})"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -uo pipefail
  cmd="${1:-}"; shift || true
  case "$cmd" in
    start) probe_start "$@" ;;
    stop) probe_stop "$@" ;;
    check) probe_check "$@" ;;
    assert) probe_assert "$@" ;;
    stop-all) probe_stop_all ;;
    *) echo "usage: $0 start NAME SRC_NETNS DEST [...] | stop NAME | check|assert NAME MAX_LOST MAX_GAP_MS | stop-all" >&2; exit 2 ;;
  esac
fi
