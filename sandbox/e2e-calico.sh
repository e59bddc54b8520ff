# Real-Calico checks of the e2e (issue 9), sourced by e2e.sh: calico-node, Typha and kube-controllers
# run as processes (sbx-kubelet) from the objects `pulumi up` applied, and pods get their network
# from a real CNI ADD through each node's delivered binaries, conflist and kubeconfig.
# Every packet goes between the sandbox's own namespaces (netns.sh).

PT_NS=pingtest          # the lab's pingtest, one pod pinned to each node
PT_IMAGE=busybox        # not a calico/* image: sbx-kubelet runs its command on Debian's userland
POOL1_CIDR=10.244.0.0/18
POOL2_CIDR=10.244.192.0/19

# pod_uid NS POD / pod_netns NS POD / pod_ip NS POD / pod_node NS POD
pod_uid() { $KUBECTL -n "$1" get pod "$2" -o jsonpath='{.metadata.uid}'; }
pod_netns() { echo "sbxpod-$(pod_uid "$1" "$2" | cut -c1-13)"; }
pod_ip() { $KUBECTL -n "$1" get pod "$2" -o jsonpath='{.status.podIP}'; }
pod_node() { $KUBECTL -n "$1" get pod "$2" -o jsonpath='{.spec.nodeName}'; }
node_addr() { $KUBECTL get node "$1" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'; }
# in_cidr IP CIDR
in_cidr() { python3 -c 'import ipaddress,sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)' "$1" "$2"; }
# ping_from NETNS DEST [COUNT] : prints "sent received loss%" (0.2 s interval, bounded)
ping_from() {
  local out
  out=$(timeout 30 ip netns exec "$1" ping -n -q -c "${3:-10}" -i 0.2 -W 1 "$2" 2>&1 || true)
  awk '/packets transmitted/ { gsub(",", ""); print $1, $4, $6 }' <<<"$out"
}

# proc_in_netns NETNS PATTERN : pid of the first process in NETNS whose command line matches PATTERN
proc_in_netns() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | qgrep -E -- "$2"; then echo "$pid"; return 0; fi
  done
  return 1
}

# make_pod NAME NODE [ANNOTATIONS-JSON]
make_pod() {
  local ann="${3:-{\}}"
  $KUBECTL -n $PT_NS apply -f - >/dev/null <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$1", "labels": {"app": "pingtest"}, "annotations": $ann},
 "spec": {"nodeSelector": {"kubernetes.io/hostname": "$2"}, "terminationGracePeriodSeconds": 1,
          "containers": [{"name": "pingtest", "image": "$PT_IMAGE", "command": ["sleep", "infinity"]}]}}
EOF
}
wait_pods_ready() { timeout 150 $KUBECTL -n $PT_NS wait --for=condition=Ready pod "$@" --timeout=120s >/dev/null; }

# Every calico-node is Ready by its own readiness probe (run again here, inside the container), its
# Felix (and BIRD with the bird backend) runs in the node's namespace, and every Felix holds a TLS
# connection to Typha; a client certificate with another CN, from the same CA, is refused.
check12() {
  local n pod pid probe cid
  local live
  probe=$($KUBECTL -n $NS get ds calico-node -o json | jq -r '.spec.template.spec.containers[0].readinessProbe.exec.command | @sh')
  live=$($KUBECTL -n $NS get ds calico-node -o json | jq -r '.spec.template.spec.containers[0].livenessProbe.exec.command | @sh')
  for n in "${NODES[@]}"; do
    pod=$($KUBECTL -n $NS get pod -l k8s-app=calico-node --field-selector "spec.nodeName=$n" -o jsonpath='{.items[0].metadata.name}')
    [[ -n "$pod" ]] || die "no calico-node pod on $n"
    cid=$($KUBECTL -n $NS get pod "$pod" -o jsonpath='{.status.containerStatuses[0].containerID} {.status.conditions[?(@.type=="Ready")].status}')
    [[ "$cid" == sbx://*" True" ]] || die "$n: calico-node $pod not Ready from sbx-kubelet ($cid)"
    pid=$(proc_in_netns "$n" '^calico-node -felix') || die "$n: no Felix process in the node's namespace"
    eval "set -- $live"
    timeout 20 nsenter -t "$pid" -m -n -p -r -w -- "$@" >/dev/null 2>&1 || die "$n: the liveness probe ($*) fails inside calico-node"
    eval "set -- $probe"
    timeout 20 nsenter -t "$pid" -m -n -p -r -w -- "$@" >/dev/null 2>&1 || die "$n: the readiness probe ($*) fails inside calico-node"
    local bird=""
    if proc_in_netns "$n" '^bird -R -s /var/run/calico/bird.ctl' >/dev/null; then bird=", BIRD running"; fi
    ok "$n: $pod Ready; its probes pass inside the container ($live; $*), Felix pid $pid$bird"
  done
  # Felix picks one of the Typha replicas: each node must hold an established connection to one of
  # them, and that Typha's log must show it accepted.
  local tpod tnode tip log tpods=() tips=() logs=()
  for tpod in $($KUBECTL -n $NS get pod -l k8s-app=calico-typha -o jsonpath='{.items[*].metadata.name}'); do
    tnode=$(pod_node $NS "$tpod")
    tpods+=("$tpod"); tips+=("$(node_addr "$tnode")"); logs+=("$S/kubelet/$tnode/logs/${NS}_${tpod}_calico-typha.log")
  done
  [[ ${#tpods[@]} -gt 0 ]] || die "no Typha pod"
  local summary=""
  for n in "${NODES[@]}"; do
    local src conn="" i
    src=$(node_addr "$n")
    for _ in $(seq 1 60); do
      for i in "${!tips[@]}"; do
        if ip netns exec "$n" ss -Htn state established dst "${tips[$i]}:5473" | qgrep .; then conn=$i; break 2; fi
      done
      sleep 1
    done
    [[ -n "$conn" ]] || die "$n: no established connection from Felix to any Typha (${tips[*]}:5473)"
    grep -q "Accepted from $src:" "${logs[$conn]}" || die "Typha ${tpods[$conn]}'s log has no connection from $n ($src)"
    summary+="$n -> ${tpods[$conn]} (${tips[$conn]}), "
  done
  ok "every Felix holds a TLS connection to a Typha: ${summary%, }; Typha requires client certs: $(grep -m1 -o 'Will verify client certificates' "${logs[0]}")"
  tip=${tips[0]}; log=${logs[0]}
  # An impostor: right CA, wrong CN. Typha must refuse it after the handshake.
  local d="$E/impostor"; mkdir -p "$d"; chmod 700 "$d"
  sbx_pulumi_nocfg stack export --show-secrets | jq -r '.deployment.resources[]
    | select(.type == "tls:index/privateKey:PrivateKey" and (.urn | endswith("::pki-typha-ca-key")))
    | .outputs.privateKeyPem | if type == "object" then .plaintext | fromjson else . end' >"$d/ca.key"
  $KUBECTL -n $NS get cm calico-typha-ca -o jsonpath='{.data.typhaca\.crt}' >"$d/ca.crt"
  grep -q 'PRIVATE KEY' "$d/ca.key" || die "could not read the Typha CA key from the state"
  openssl req -newkey rsa:2048 -nodes -keyout "$d/impostor.key" -out "$d/impostor.csr" -subj "/CN=calico-node-impostor" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$d/ext"
  openssl x509 -req -in "$d/impostor.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 1 -extfile "$d/ext" -out "$d/impostor.crt" 2>/dev/null
  rm -f "$d/ca.key"
  local before after
  before=$(grep -c 'does not have required CN' "$log" || true)
  (sleep 3; printf 'hello\n') | timeout 15 ip netns exec "${NODES[0]}" openssl s_client -connect "$tip:5473" \
    -cert "$d/impostor.crt" -key "$d/impostor.key" -CAfile "$d/ca.crt" >"$d/s_client.log" 2>&1 || true
  sleep 1
  after=$(grep -c 'does not have required CN' "$log" || true)
  [[ $after -gt $before ]] || { tail -5 "$d/s_client.log"; die "Typha did not refuse a client certificate with CN calico-node-impostor"; }
  ok "Typha refused a client cert signed by its CA with CN calico-node-impostor: $(grep 'does not have required CN' "$log" | tail -1 | grep -oE 'error="[^"]*"|peer certificate does not have required CN' | head -1)"
  rm -f "$d"/*.key
}

# With the lab's unencapsulated pools and the node-to-node mesh, every BIRD has an Established
# session with every other node.
check13() {
  local n sock est want=$(( ${#NODES[@]} - 1 ))
  for n in "${NODES[@]}"; do
    sock="$(tree "$n")/var/run/calico/bird.ctl"
    timeout 90 bash -c "until [[ \$(birdc -s '$sock' show protocols 2>/dev/null | grep -c 'Established') -ge $want ]]; do sleep 2; done" \
      || { birdc -s "$sock" show protocols || true; die "$n: BIRD has fewer than $want Established sessions"; }
    est=$(birdc -s "$sock" show protocols | awk '/Established/ {print $1}' | paste -sd, -)
    ok "$n: BIRD sessions Established: $est"
  done
}

# Pods pinned to each node: addresses from ipv4-ippool-1 (never the disabled pool), cross-node ping,
# node-to-pod ping, the node's route to a remote pod via that pod's node, MTU with don't-fragment,
# a deny-ingress NetworkPolicy, and IPAM release on delete.
check14() {
  $KUBECTL create namespace $PT_NS >/dev/null 2>&1 || true
  local n i=0
  for n in "${NODES[@]}"; do make_pod "pingtest-$n" "$n"; done
  wait_pods_ready -l app=pingtest || { $KUBECTL -n $PT_NS get pods -o wide; die "pingtest pods not Ready"; }
  declare -A IP NETNS
  for n in "${NODES[@]}"; do
    IP[$n]=$(pod_ip $PT_NS "pingtest-$n"); NETNS[$n]=$(pod_netns $PT_NS "pingtest-$n")
    in_cidr "${IP[$n]}" "$POOL1_CIDR" || die "pingtest-$n got ${IP[$n]}, outside ipv4-ippool-1 $POOL1_CIDR"
  done
  ok "pods: $(for n in "${NODES[@]}"; do printf '%s=%s ' "pingtest-$n" "${IP[$n]}"; done)(all in ipv4-ippool-1 $POOL1_CIDR)"
  local a b r
  for a in "${NODES[@]}"; do
    for b in "${NODES[@]}"; do
      [[ $a == "$b" ]] && continue
      r=$(ping_from "${NETNS[$a]}" "${IP[$b]}")
      [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] || die "pingtest-$a -> pingtest-$b (${IP[$b]}): sent received loss = $r"
      echo "  pingtest-$a -> pingtest-$b ${IP[$b]}: sent/received/loss $r"
    done
  done
  ok "every pod pings every pod on the other nodes with 0% loss"
  local a0="${NODES[0]}" b1="${NODES[1]}" route via
  r=$(ping_from "$a0" "${IP[$b1]}")
  [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] || die "node $a0 -> pingtest-$b1: $r"
  route=$(ip netns exec "$a0" ip route get "${IP[$b1]}")
  via=$(node_addr "$b1")
  grep -q "via $via " <<<"$route" || die "on $a0, ip route get ${IP[$b1]}: '$route', want via $via ($b1)"
  ok "node $a0 pings pingtest-$b1 ($r); ip route get ${IP[$b1]}: $(head -1 <<<"$route" | xargs)"
  # MTU: the conflist's MTU is the pod interface's; a don't-fragment ping of exactly that size crosses,
  # one byte more is refused at the sender (not fragmented, not silently dropped).
  local mtu dev_mtu out
  mtu=$(jq -r '.plugins[0].mtu' "$(tree "$a0")/etc/cni/net.d/10-calico.conflist")
  dev_mtu=$(ip netns exec "${NETNS[$a0]}" cat /sys/class/net/eth0/mtu)
  [[ "$dev_mtu" == "$mtu" ]] || die "pingtest-$a0 eth0 mtu $dev_mtu, conflist mtu $mtu"
  out=$(timeout 10 ip netns exec "${NETNS[$a0]}" ping -n -c 3 -i 0.2 -W 1 -M do -s $((mtu - 28)) "${IP[$b1]}" 2>&1) \
    || die "DF ping of $mtu bytes pingtest-$a0 -> pingtest-$b1 failed: $out"
  out=$(timeout 10 ip netns exec "${NETNS[$a0]}" ping -n -c 1 -W 1 -M do -s $((mtu - 27)) "${IP[$b1]}" 2>&1) && die "a DF ping of $((mtu + 1)) bytes got through"
  grep -qiE 'message too long|mtu' <<<"$out" || die "a DF ping of $((mtu + 1)) bytes was not refused as too long: $out"
  ok "MTU $mtu (conflist = pod eth0): DF ping of $mtu bytes crosses nodes; $((mtu + 1)) bytes refused ($(grep -oiE 'message too long[^)]*\)?|mtu[^)]*' <<<"$out" | head -1))"
  # NetworkPolicy: deny all ingress to pingtest-<b1>; ping stops; deleting it brings it back.
  $KUBECTL -n $PT_NS apply -f - >/dev/null <<EOF
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-ingress"},
 "spec": {"podSelector": {"matchLabels": {"app": "pingtest"}}, "policyTypes": ["Ingress"]}}
EOF
  local t0 blocked=""
  t0=$(now)
  for _ in $(seq 1 30); do
    r=$(ping_from "${NETNS[$a0]}" "${IP[$b1]}" 3)
    [[ "$(awk '{print $2}' <<<"$r")" == 0 ]] && { blocked=$(secs "$t0" "$(now)"); break; }
  done
  [[ -n "$blocked" ]] || die "ping still passes 30 tries after a deny-ingress NetworkPolicy"
  $KUBECTL -n $PT_NS delete networkpolicy deny-ingress >/dev/null
  t0=$(now); local back=""
  for _ in $(seq 1 30); do
    r=$(ping_from "${NETNS[$a0]}" "${IP[$b1]}" 3)
    [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] && { back=$(secs "$t0" "$(now)"); break; }
  done
  [[ -n "$back" ]] || die "ping does not come back after deleting the NetworkPolicy"
  ok "NetworkPolicy deny-ingress: ping blocked within ${blocked}s; deleted: ping back within ${back}s (0% loss)"
  # IPAM release: the pod's handle (k8s-pod-network.<container id>) goes with the pod.
  local last="${NODES[$(( ${#NODES[@]} - 1 ))]}" handle
  handle="k8s-pod-network.sbx$(pod_uid $PT_NS "pingtest-$last" | tr -d -)"
  $KUBECTL get ipamhandles.crd.projectcalico.org "$handle" >/dev/null || die "no IPAM handle $handle for pingtest-$last"
  $KUBECTL -n $PT_NS delete pod "pingtest-$last" --wait=true --timeout=60s >/dev/null || die "deleting pingtest-$last timed out"
  timeout 30 bash -c "while $KUBECTL get ipamhandles.crd.projectcalico.org '$handle' >/dev/null 2>&1; do sleep 1; done" \
    || die "IPAM handle $handle still there after the pod was deleted"
  ip netns list | qgrep "${NETNS[$last]}" && die "pod network namespace ${NETNS[$last]} left behind"
  ok "deleting pingtest-$last (${IP[$last]}) released its IPAM handle $handle and removed its namespace"
  make_pod "pingtest-$last" "$last"
  wait_pods_ready "pingtest-$last" || die "pingtest-$last not Ready again"
}

# After check 6 enabled ipv4-ippool-2: a pod that asks for it gets an address there, and a pod on
# another node pings it. This is the step where the lab (seed 000) ended at 100% loss.
check15() {
  local n="${NODES[2]}" other="${NODES[0]}" ip r
  make_pod pingtest-ippool-2 "$n" '{"cni.projectcalico.org/ipv4pools": "[\"ipv4-ippool-2\"]"}'
  wait_pods_ready pingtest-ippool-2 || { $KUBECTL -n $PT_NS describe pod pingtest-ippool-2 | tail -5; die "pingtest-ippool-2 not Ready"; }
  ip=$(pod_ip $PT_NS pingtest-ippool-2)
  in_cidr "$ip" "$POOL2_CIDR" || die "pingtest-ippool-2 got $ip, outside ipv4-ippool-2 $POOL2_CIDR"
  r=$(ping_from "$(pod_netns $PT_NS "pingtest-$other")" "$ip")
  [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] || die "pingtest-$other -> pingtest-ippool-2 ($ip): $r"
  ok "pingtest-ippool-2 on $n got $ip (in ipv4-ippool-2 $POOL2_CIDR); pingtest-$other pings it: sent/received/loss $r"
}

# After destroy: no Calico process, interface, route, iptables/nft rule or chain, or ipset is left in
# any node's namespace. Prints what it checked.
calico_leftovers() {
  local n out found=0
  for n in "${NODES[@]}"; do
    out=$( {
      for pid in $(ip netns pids "$n" 2>/dev/null); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -E '^(calico-node|calico-typha|bird|bird6|/usr/bin/kube-controllers|runsv)' | sed 's/^/process: /'
      done
      ip -n "$n" -o link show | awk -F': ' '{print $2}' | grep -E '^(cali|tunl0|vxlan[.-]|wireguard\.cali)' | sed 's/^/link: /'
      ip -n "$n" route show table all | grep -E 'proto (bird|80)|blackhole|dev cali' | sed 's/^/route: /'
      ip netns exec "$n" iptables-legacy-save 2>/dev/null | grep -E 'cali' | head -3 | sed 's/^/iptables-legacy: /'
      ip netns exec "$n" iptables-nft-save 2>/dev/null | grep -E 'cali' | head -3 | sed 's/^/iptables-nft: /'
      ip netns exec "$n" nft list tables 2>/dev/null | grep -iE 'calico' | sed 's/^/nft: /'
      ip netns exec "$n" ipset list -n 2>/dev/null | grep -E '^cali' | head -3 | sed 's/^/ipset: /'
    } )
    if [[ -n "$out" ]]; then echo "$n:"; sed 's/^/  /' <<<"$out"; found=1; fi
  done
  return $found
}
