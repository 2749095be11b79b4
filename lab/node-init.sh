#!/bin/bash
# PID 1 of a flanctl lab node (started by src/lab/node.ts inside the node's network namespace with
# `unshare --mount --uts --ipc --pid --fork --propagation private`).
#   $1 = node name (hostname)   $2 = node dir on the host (upper/work dirs, opt, root, log)
# Gives the node copy-on-write /etc /usr /var over the host's, fresh /opt /root /var/log (from the node
# dir) and /run /tmp (tmpfs), then runs sshd -D and supervisord -n and reaps orphans until killed.
set -eu
name=$1
nodedir=$2

mount --make-rprivate /
# The host's /run/netns holds every node's namespace: unmount it here or this node pins them all.
umount -R -l /run/netns 2>/dev/null || true
mount -t proc proc /proc
mount -t sysfs sysfs /sys
hostname "$name"

# Reach the node dir through /tmp (replaced by a tmpfs below), so nothing depends on where DIR is.
mount --bind "$nodedir" /tmp
for d in etc usr var; do
  mount -t overlay "flanlab-$d" -o "lowerdir=/$d,upperdir=/tmp/upper/$d,workdir=/tmp/work/$d" "/$d"
done
mount --bind /tmp/opt /opt
mount --bind /tmp/log /var/log
mount --bind /tmp/root /root
mount -t tmpfs -o mode=0755,size=64m flanlab-run /run
mount -t tmpfs -o mode=1777,size=256m flanlab-tmp /tmp

# Like systemd-sysctl / procps at boot: apply the sysctl.d drop-ins, limited to net.* keys (those
# belong to this node's network namespace; other keys are the host kernel's and are left alone).
for f in /etc/sysctl.d/*.conf; do
  [ -r "$f" ] || continue
  sed -n 's/^[[:space:]]*\(net\.[A-Za-z0-9_.-]*\)[[:space:]]*=[[:space:]]*\([^#]*\).*$/\1=\2/p' "$f" | while IFS= read -r kv; do
    sysctl -q -w "${kv%"${kv##*[![:space:]]}"}" >/dev/null 2>&1 || true
  done
done

mkdir -p /run/sshd /run/lock /var/log/supervisor
chmod 0755 /run/sshd
cd /

/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config.flanlab >>/var/log/sshd.log 2>&1 &
/usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf >>/var/log/supervisor/supervisord.out 2>&1 &
echo "$name: up" >/run/flanlab-ready

# bash reaps every child, including orphans re-parented to it, from its SIGCHLD handler.
trap 'kill -TERM -1 2>/dev/null || true; exit 0' TERM INT
while :; do
  wait || true
  sleep 5 &
  wait $! || true
done
