#!/usr/bin/env bash
# The sandbox's SSH hosts: one listener per node on 127.0.0.1:<port>; each connection gets its own
# OpenSSH server (inetd mode) inside that node's network namespace, chrooted into the node's tree,
# so what a session runs (ip, iptables) sees that node's network, as on a real host.
#   ssh-nodes.sh start [NODE...]   start (default: all nodes); idempotent
#   ssh-nodes.sh stop  [NODE...]   stop by recorded pid (e.g. a fault test)
#   ssh-nodes.sh status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
P="$S/pki"

cmd="${1:-status}"; shift || true
NODES=("$@")
[[ ${#NODES[@]} -gt 0 ]] || read -r -a NODES <<<"$SANDBOX_NODES"
for n in "${NODES[@]}"; do node_port "$n" >/dev/null || { echo "unknown node $n (nodes: $SANDBOX_NODES)" >&2; exit 2; }; done

case "$cmd" in
  stop)
    for n in "${NODES[@]}"; do stop "sshd-$n"; done
    exit 0 ;;
  status)
    for n in "${NODES[@]}"; do
      if pid_alive "sshd-$n"; then echo "$n 127.0.0.1:$(node_port "$n") listening, pid $(cat "$S/run/sshd-$n.pid")"
      else echo "$n 127.0.0.1:$(node_port "$n") stopped"; fi
    done
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop|status [NODE...]" >&2; exit 2 ;;
esac

mkdir -p "$S"/{run,logs,ssh,nodes}
chmod 700 "$S/ssh"
# One sshd per node on 127.0.0.1:<port>, ChrootDirectory = the node's tree
# $S/nodes/<node>, so absolute paths (/opt/cni/bin, /etc/cni/net.d) written
# over SSH land in that node's own tree. The tree has bash (with its libs)
# and busybox for the usual tools.
SSHD_KEY="$S/ssh/host_ed25519_key"
[[ -s "$SSHD_KEY" ]] || ssh-keygen -q -t ed25519 -N '' -C calico-sandbox-host -f "$SSHD_KEY"
[[ -s "$S/ssh/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -C calico-sandbox-client -f "$S/ssh/id_ed25519"
cp "$S/ssh/id_ed25519.pub" "$S/ssh/authorized_keys"
chmod 600 "$S/ssh/authorized_keys"
mkdir -p /run/sshd && chmod 755 /run/sshd

# Real Debian tools copied into every tree (with their shared libraries);
# busybox fills in the rest.
TREE_TOOLS="sh bash cat chmod chown cp mkdir mktemp mv rm rmdir ls stat sha256sum sha512sum md5sum tar gzip
  ln env id readlink realpath dirname basename head tail grep sed awk touch sync install sort uniq wc tr cut
  tee xargs find diff cmp base64 date sleep uname hostname printf test true false"

# copy_tool SRC DIR ROOT : a binary into ROOT/DIR, with the shared libraries it needs
copy_tool() {
  local src="$1" dir="$2" root="$3" lib
  cp -L "$src" "$root/$dir/$(basename "$src")"
  for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*'); do
    [[ -e "$root$lib" ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

make_tree() {
  local root="$1" t f lib src
  mkdir -p "$root"/{usr/bin,usr/lib,usr/lib64,etc,tmp,root,dev,opt,var/tmp}
  for d in bin sbin; do [[ -e "$root/$d" ]] || ln -s usr/bin "$root/$d"; done
  [[ -e "$root/lib" ]] || ln -s usr/lib "$root/lib"
  [[ -e "$root/lib64" ]] || ln -s usr/lib64 "$root/lib64"
  chmod 755 "$root"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  if [[ ! -x "$root/usr/bin/busybox" ]]; then
    for t in $TREE_TOOLS; do
      src="$(type -P "$t" || true)"
      [[ -n "$src" ]] || continue
      copy_tool "$src" usr/bin "$root"
    done
    cp /bin/busybox "$root/usr/bin/busybox"
    for f in $(/bin/busybox --list); do
      [[ -e "$root/usr/bin/$f" ]] || ln -s busybox "$root/usr/bin/$f"
    done
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
  fi
  node_tools "$root"
  [[ -c "$root/dev/null" ]] || { rm -f "$root/dev/null"; mknod -m 666 "$root/dev/null" c 1 3; }
  [[ -c "$root/dev/zero" ]] || { rm -f "$root/dev/zero"; mknod -m 666 "$root/dev/zero" c 1 5; }
  [[ -c "$root/dev/urandom" ]] || { rm -f "$root/dev/urandom"; mknod -m 666 "$root/dev/urandom" c 1 9; }
}

# What every Calico host has besides a shell: iproute2, iptables (legacy and nft), ipset and nft,
# with their libraries and iptables' extensions. The program's host scripts use them on destroy.
NODE_TOOLS="ip ipset nft xtables-legacy-multi xtables-nft-multi"
XT_LINKS="iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore"
node_tools() {
  local root="$1" t src l
  [[ -x "$root/usr/sbin/xtables-nft-multi" ]] && return
  mkdir -p "$root/usr/sbin" "$root/usr/lib/x86_64-linux-gnu" "$root/run"
  [[ -e "$root/sbin" ]] || ln -s usr/sbin "$root/sbin"
  for t in $NODE_TOOLS; do
    src="$(PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P "$t" || true)"
    [[ -n "$src" ]] || { echo "missing $t on this machine (up.sh installs iproute2 iptables ipset nftables)" >&2; exit 1; }
    copy_tool "$src" usr/sbin "$root"
  done
  cp -a /usr/lib/x86_64-linux-gnu/xtables "$root/usr/lib/x86_64-linux-gnu/"
  for l in $XT_LINKS; do
    ln -sf xtables-legacy-multi "$root/usr/sbin/${l/tables/tables-legacy}"
    ln -sf xtables-nft-multi "$root/usr/sbin/${l/tables/tables-nft}"
    # As Debian's default alternative: plain iptables is the nft one.
    ln -sf xtables-nft-multi "$root/usr/sbin/$l"
  done
  ln -sf /usr/sbin/ip "$root/usr/bin/ip"
}

first_node="${SANDBOX_NODES%% *}"
for n in "${NODES[@]}"; do
  port="$(node_port "$n")"
  root="$S/nodes/$n"
  make_tree "$root"
  if [[ "$n" == "$first_node" && -s "$P/ca.crt" ]]; then
    # The first node doubles as the control-plane host for reading the
    # cluster CA over SSH (/etc/kubernetes/pki/ca.crt and ca.key).
    mkdir -p "$root/etc/kubernetes/pki"
    cp "$P/ca.crt" "$P/ca.key" "$root/etc/kubernetes/pki/"
    chmod 600 "$root/etc/kubernetes/pki/ca.key"
  fi
  cat >"$S/ssh/sshd-$n.conf" <<EOF
# sshd for sandbox node $n (generated by sandbox/ssh-nodes.sh), run per connection (sshd -i)
HostKey $SSHD_KEY
AuthorizedKeysFile $S/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
ChrootDirectory $root
AcceptEnv *
PermitUserEnvironment no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 100
LogLevel INFO
EOF
  [[ -e "/run/netns/$n" ]] || { echo "no network namespace $n: run sandbox/netns.sh up first" >&2; exit 1; }
  # Per connection: the node's network namespace (and a mount namespace of its own, from ip netns
  # exec) with /proc and /sys mounted in the tree, as a host has them (iptables-save reads
  # /proc/net/ip_tables_names), then sshd in inetd mode, which chroots into the tree.
  mkdir -p "$root/proc" "$root/sys"
  cat >"$S/ssh/sshd-$n.sh" <<EOF
#!/bin/sh
exec ip netns exec '$n' /bin/sh -c 'mount -t proc proc "\$0/proc" && mount -t sysfs sysfs "\$0/sys" && exec /usr/sbin/sshd -i -e -f "\$1"' '$root' '$S/ssh/sshd-$n.conf'
EOF
  chmod 755 "$S/ssh/sshd-$n.sh"
  START_MATCH=socat start "sshd-$n" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "EXEC:$S/ssh/sshd-$n.sh"
done


for n in "${NODES[@]}"; do
  port="$(node_port "$n")"
  wait_for "sshd of $n on 127.0.0.1:$port" 30 \
    ssh -i "$S/ssh/id_ed25519" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no \
      -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 true
done
