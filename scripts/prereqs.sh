#!/usr/bin/env bash
# Installs what the control machine needs, from Debian's apt, on a fresh Debian 12 or 13 where you are root.
# Safe to run again: it installs only what is missing and starts no service (the tests and the lab start
# their own copies of nginx, Prometheus and apt-cacher-ng, and stop them by pid).
set -euo pipefail

packages=(
  ansible-core ansible-lint          # the playbook and its lint
  systemd-container debootstrap      # the lab's hosts: systemd-nspawn machines from a Debian root
  iproute2 nftables openssh-client   # the lab's bridge, NAT-free firewall checks, SSH to the hosts
  apt-cacher-ng                      # the lab hosts' only way to Debian's mirror
  nginx prometheus mtail siege wrk   # the exporter's integration tests and benchmark, the load test, bench:stand
  prometheus-alertmanager            # amtool, for the static tests of the Alertmanager config
  prometheus-blackbox-exporter       # the blackbox exporter role's config check and its probes' test
  openssl python3-bcrypt             # the stand's CA, certificates and password hash (role tls_auth)
  chromium fonts-dejavu-core         # screenshots of Prometheus' UI
  libnss3-tools                      # certutil: Chromium trusts the stand's CA in a throw-away NSS database
  curl ca-certificates
)

if [[ $(id -u) -ne 0 ]]; then
  echo "prereqs: run as root (apt-get installs ${packages[*]})" >&2
  exit 1
fi
if ! grep -Eqs '^VERSION_CODENAME=(bookworm|trixie)$' /etc/os-release; then
  echo "prereqs: warning: written for Debian 12 (bookworm) and 13 (trixie); this is $(. /etc/os-release; echo "$PRETTY_NAME")" >&2
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "prereqs: all ${#packages[@]} packages present"
  exit 0
fi

echo "prereqs: installing ${missing[*]}"
# Packages such as nginx and prometheus start their service on install; on this control machine nothing
# should listen on their ports, so service starts are refused for the duration of the install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
trap '[[ $own_policy -eq 1 ]] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "prereqs: done"
