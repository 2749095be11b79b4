#!/bin/bash
# Launcher of a flanctl lab node with a real systemd (started by src/lab/nspawn.ts under
# `unshare --mount --propagation private`, so the overlay below vanishes with it).
#   $1 = cgroup name   $2 = rootfs (read-only lower dir)   $3 = node dir   -- systemd-nspawn argv…
# 1. Moves itself into its own cgroup: with --keep-unit nspawn puts its payload/ cgroups under the
#    caller's, so two nodes started from one shell would share them (LAB-NOTES.md).
# 2. Mounts the node's root: overlayfs of the shared rootfs and the node's upper dir.
# 3. Runs nspawn; `systemctl reboot` in the node makes nspawn exit with 133: boot again.
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
done
echo "launcher: nspawn exited with $rc"
rm -f "$nd/nspawn.pid"
exit "$rc"
