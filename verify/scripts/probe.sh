# verify's probe: runs its TASKS ("kind,name,address" words) and writes one JSON object to its
# termination message, which verify reads from the pod status (no kubectl exec). POSIX sh, with the
# image's ping, iperf3 and curl. Kubernetes expands $(NAME) of a defined env var in a pod's command, so
# this script never writes one, nor a double dollar. TERMINATION_LOG is for its tests only.
set -u
R=""
add() { R="${R:+$R,}$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
esc() { printf '%s' "$1" | tr -d '"\\' | tr '\n\r\t' '   ' | cut -c1-160; }
num() { case "$1" in ''|*[!0-9.]*) echo null ;; *) echo "$1" ;; esac; }
counts() {
  tx=$(printf '%s\n' "$1" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' | head -n1)
  rx=$(printf '%s\n' "$1" | sed -n 's/.* \([0-9]*\) \(packets \)\{0,1\}received.*/\1/p' | head -n1)
  ms=$(printf '%s\n' "$1" | sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p' | head -n1)
}
for t in $TASKS; do
  kind=${t%%,*}; rest=${t#*,}; name=${rest%%,*}; ip=${rest#*,}
  case "$ip" in *:*) host="[$ip]" ;; *) host=$ip ;; esac
  head="\"k\":\"$kind\",\"to\":\"$name\",\"ip\":\"$ip\""
  case "$kind" in
  ping)
    if ! have ping; then add "{$head,\"err\":\"no ping in the probe image\"}"; continue; fi
    o=$(ping -n -q -c "$PINGS" -i 0.2 -W 2 "$ip" 2>&1); counts "$o"
    err=""; [ -n "$tx" ] || err=$(esc "$o")
    add "{$head,\"tx\":$(num "$tx"),\"rx\":$(num "$rx"),\"ms\":$(num "$ms"),\"err\":\"$err\"}" ;;
  df)
    if ! have ping; then add "{$head,\"err\":\"no ping in the probe image\"}"; continue; fi
    # Without -q: iputils prints the "message too long, mtu=N" of a packet refused at the sender only then.
    o=$(ping -n -c 3 -i 0.2 -W 2 -M do -s $((MTU - 28)) "$ip" 2>&1); counts "$o"
    err=""; [ "$rx" = "3" ] || err=$(esc "$(printf '%s\n' "$o" | grep -iE 'too long|mtu|invalid|usage' | head -n1)")
    add "{$head,\"size\":$MTU,\"tx\":$(num "$tx"),\"rx\":$(num "$rx"),\"err\":\"$err\"}" ;;
  iperf)
    if ! have iperf3; then add "{$head,\"err\":\"no iperf3 in the probe image\"}"; continue; fi
    o=$(iperf3 -c "$ip" -p "$IPERF_PORT" -t "$PERF_SECONDS" -f m 2>&1)
    v=$(printf '%s\n' "$o" | awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) } END { print v }')
    err=""; [ -n "$v" ] || err=$(esc "$(printf '%s\n' "$o" | tail -n2)")
    add "{$head,\"mbps\":$(num "$v"),\"err\":\"$err\"}" ;;
  http)
    if ! have curl; then add "{$head,\"err\":\"no curl in the probe image\"}"; continue; fi
    # One curl for every request: the figure is the requests, not process start-up.
    o=$(curl -s -o /dev/null --max-time 60 -w '%{http_code} %{time_total}\n' "http://$host:$HTTP_PORT/?[1-$HTTP_REQUESTS]" 2>&1)
    v=$(printf '%s\n' "$o" | awk '$1 == "200" { n++; s += $2 } END { if (n) printf "%d %.6f", n, s }')
    err=""; [ -n "$v" ] || err=$(esc "$(printf '%s\n' "$o" | tail -n1)")
    add "{$head,\"n\":$(num "${v%% *}"),\"s\":$(num "${v#* }"),\"err\":\"$err\"}" ;;
  typha)
    if ! have curl; then add "{$head,\"err\":\"no curl in the probe image\"}"; continue; fi
    o=$(curl -s --max-time 10 "http://127.0.0.1:$ip/metrics" 2>&1)
    v=$(printf '%s\n' "$o" | awk '/^typha_connections_streaming\{syncer="felix"\}/ { print $2 }' | head -n1)
    err=""; [ -n "$v" ] || err=$(esc "no typha_connections_streaming for felix at 127.0.0.1:$ip: $(printf '%s' "$o" | head -c 100)")
    add "{$head,\"felix\":$(num "$v"),\"err\":\"$err\"}" ;;
  esac
done
printf '{"v":1,"r":[%s]}' "$R" >"${TERMINATION_LOG:-/dev/termination-log}"
