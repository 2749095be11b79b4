#!/usr/bin/env bash
# scripts/setup.sh [--systemd] [--tests] — the set-up behind the README's two commands (`npm run demo`,
# `npm test`) and .ci/run, on a fresh Debian machine or on one that already has everything:
#   1. Debian packages the lab and the tests need. Only missing ones are installed (as root), with
#      --no-install-recommends and a temporary /usr/sbin/policy-rc.d that keeps apt from starting
#      their services on this machine (no host-wide etcd, sshd or supervisord is left running).
#   2. npm ci, when node_modules is missing or older than package-lock.json.
#   3. npm run build, when dist/ is missing or older than the sources.
# Says what it does and why; changes nothing when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

systemd=0 tests=0
for a in "$@"; do
  case $a in
    --systemd) systemd=1 ;;
    --tests) tests=1 ;;
    *) echo "setup: unknown argument $a (usage: scripts/setup.sh [--systemd] [--tests])" >&2; exit 2 ;;
  esac
done

# package → why it is needed
declare -A why=(
  [etcd-server]="the lab's etcd (TLS, v2 + v3 APIs)"
  [etcd-client]="etcdctl for the etcd tests"
  [openssh-server]="sshd in every lab node"
  [openssh-client]="ssh-keygen and ssh for lab keys and the SSH tests"
  [supervisor]="supervisord in the default lab nodes"
  [iptables]="flanctl's rules and flanneld's chains inside the nodes"
  [iproute2]="namespaces, veths and the lab bridge"
  [iputils-ping]="verify's overlay pings"
  [openssl]="the PKI cross-checks"
  [jq]="JSON checks in the tests"
  [procps]="process inspection (ps, pgrep)"
  [util-linux]="unshare and nsenter for the nodes"
  [systemd]="systemd-analyze verify for the rendered units"
  [systemd-container]="systemd-nspawn: lab nodes that boot a real systemd (--init systemd)"
  [mmdebstrap]="builds the systemd nodes' Debian rootfs once"
  [chromium]="renders verify's HTML report in the tests"
  [zsh]="the shell-completion tests"
  [containernetworking-plugins]="the CNI plugins (bridge, host-local) the pod tests run"
  [git]="the key-in-git warning tests (a real work tree)"
  [dash]="the iptables script is tested under dash too"
)
pkgs=(etcd-server etcd-client openssh-server openssh-client supervisor iptables iproute2 iputils-ping openssl jq procps util-linux systemd)
((systemd)) && pkgs+=(systemd-container mmdebstrap)
((tests)) && pkgs+=(chromium zsh containernetworking-plugins git dash)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: Debian packages: all ${#pkgs[@]} present"
elif [[ $(id -u) != 0 ]]; then
  echo "setup: missing Debian packages (not root, not installing them):" >&2
  for p in "${missing[@]}"; do echo "  $p — ${why[$p]}" >&2; done
  echo "  install: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
else
  echo "setup: installing Debian packages (apt-get, --no-install-recommends, services kept from starting):"
  for p in "${missing[@]}"; do echo "  $p — ${why[$p]}"; done
  guard=/usr/sbin/policy-rc.d
  had_guard=0; [[ -e $guard ]] && had_guard=1
  if ((!had_guard)); then printf '#!/bin/sh\n# temporary, written by flanctl scripts/setup.sh\nexit 101\n' >"$guard"; chmod +x "$guard"; fi
  trap '((had_guard)) || rm -f "$guard"' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((had_guard)) || rm -f "$guard"
  trap - EXIT
  echo "setup: installed ${missing[*]}"
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci (node_modules missing or older than package-lock.json)"
  npm ci --no-audit --no-fund
else
  echo "setup: node_modules up to date"
fi

stale=$(find src templates lab/flanneld-standin package.json tsconfig.json -newer oclif.manifest.json -print -quit 2>/dev/null || true)
if [[ ! -f oclif.manifest.json || ! -f lab/dist/flannel-v0.20.2-standin-linux-amd64.tar.gz || -n $stale ]]; then
  if [[ -n $stale ]]; then reason="$stale changed since the last build"; else reason="no build yet"; fi
  echo "setup: npm run build ($reason)"
  npm run build
else
  echo "setup: build up to date"
fi
