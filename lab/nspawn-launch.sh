#!/bin/bash
# Launcher of a flanctl lab node with a real systemd (started by src/lab/nspawn.ts under
# `unshare --mount --propagation private`, so the overlay below vanishes with it).
#   $1 = node id (its cgroup name and its netns /run/netns/$1)   $2 = rootfs (read-only lower dir)
#   $3 = node dir   -- systemd-nspawn argv…
# 1. Moves itself into its own cgroup: with --keep-unit nspawn puts its payload/ cgroups under the
#    caller's, so two nodes started from one shell would share them (LAB-NOTES.md).
# 2. Mounts the node's root: overlayfs of the shared rootfs and the node's upper dir.
# 3. Runs nspawn; `systemctl reboot` in the node makes nspawn exit with 133: boot again, after
#    clearing what a real reboot clears in the node's network namespace (it outlives the boot): every
#    link but lo and eth0, routes through them, iptables rules and chains, ip_forward.
set -u
cg=$1 lower=$2 nd=$3
shift 3
[ "${1:-}" = -- ] && shift

if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  hier=/sys/fs/cgroup
else
  hier="/sys/fs/cgroup/systemd /sys/fs/cgroup/unified"
fi
for h in $hier; do
  [ -d "$h" ] || continue
  mkdir -p "$h/$cg" && echo $$ >"$h/$cg/cgroup.procs" || { echo "launcher: cannot join cgroup $h/$cg" >&2; exit 1; }
done

mount --make-rprivate /
mkdir -p "$nd/root"
mount -t overlay flanlab-root -o "lowerdir=$lower,upperdir=$nd/upper,workdir=$nd/work" "$nd/root" || exit 1

# What a reboot loses: the netns belongs to the lab and survives nspawn, a host's kernel state does not.
reset_network() {
  nsenter --net="/run/netns/$cg" sh -c '
    for l in $(ip -o link show | sed -n "s/^[0-9]*: \([^:@]*\).*/\1/p"); do
      case $l in lo|eth0) ;; *) ip link del "$l" 2>/dev/null ;; esac
    done
    for t in filter nat mangle raw; do iptables -w -t "$t" -F; iptables -w -t "$t" -X; done 2>/dev/null
    iptables -w -P FORWARD ACCEPT 2>/dev/null
    sysctl -q -w net.ipv4.ip_forward=0
  ' || echo "launcher: could not reset the network namespace $cg" >&2
}

trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
boots=0
while :; do
  boots=$((boots + 1))
  echo "launcher: boot $boots ($(date -u +%FT%TZ))"
  "$@" &
  pid=$!
  echo "$pid" >"$nd/nspawn.pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 133 ] || break
  echo "launcher: the node rebooted (nspawn exit 133): booting it again"
  reset_network
done
echo "launcher: nspawn exited with $rc"
rm -f "$nd/nspawn.pid"
exit "$rc"
