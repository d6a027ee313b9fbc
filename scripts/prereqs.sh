#!/usr/bin/env bash
# Installs what the control machine needs from the distribution's apt: Debian 12 (bookworm) and 13 (trixie),
# tested; Ubuntu 24.04 (noble) on paper only. Safe to run again: it installs only what is missing, so when
# everything is there it needs no privilege at all; otherwise it runs apt-get as root, itself when you are
# root, through sudo when you are not. It starts no service (the tests and the lab start their own copies of
# nginx, Prometheus and apt-cacher-ng, and stop them by pid).
set -euo pipefail

packages=(
  ansible-core ansible-lint          # the playbook and its lint
  systemd-container mmdebstrap       # the lab's hosts: systemd-nspawn machines from a Debian root
  iproute2 nftables openssh-client   # the lab's bridge, NAT-free firewall checks, SSH to the hosts
  apt-cacher-ng                      # the lab hosts' only way to Debian's mirror
  nginx prometheus mtail siege wrk   # the exporter's integration tests and benchmark, the load test, bench:stand
  prometheus-alertmanager            # amtool, for the static tests of the Alertmanager config
  python3-aiosmtpd                   # the SMTP relay (STARTTLS, AUTH) mail alerts are delivered to in the tests
  prometheus-blackbox-exporter       # the blackbox exporter role's config check and its probes' test
  openssl python3-bcrypt             # the stand's CA, certificates and password hash (role tls_auth)
  chromium fonts-dejavu-core         # screenshots of Prometheus' UI
  libnss3-tools                      # certutil: Chromium trusts the stand's CA in a throw-away NSS database
  python3-prometheus-client          # its OpenMetrics parser checks av-exporter's OpenMetrics answer (exporter/test/http-answers.test.ts)
  lintian                            # checks av-exporter's Debian package (exporter/test/debian-package.test.ts)
  curl ca-certificates
)
node_major_min=18 # package.json's engines

. /etc/os-release 2>/dev/null || true
case "${ID:-}:${VERSION_CODENAME:-}" in
  # Mitogen, made for Debian 12's ansible-core 2.14: a converged site.yml in half the time. Debian 13's 2.19
  # deprecates strategies not its own, Mitogen's included, so site.yml does not use it there.
  debian:bookworm) packages+=(ansible-mitogen) ;;
  debian:trixie) ;;
  ubuntu:noble)
    echo "prereqs: warning: Ubuntu 24.04 is supported on paper only, not tested" >&2
    # Ubuntu ships Chromium only as a snap (its chromium-browser package installs the snap)
    kept=()
    for pkg in "${packages[@]}"; do [[ $pkg == chromium ]] || kept+=("$pkg"); done
    packages=("${kept[@]}")
    echo "prereqs: Chromium is not from apt here: snap install chromium, then export CHROMIUM_PATH=/snap/bin/chromium" >&2
    ;;
  *) echo "prereqs: warning: written for Debian 12 (bookworm) and 13 (trixie); this is ${PRETTY_NAME:-unknown}" >&2 ;;
esac

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# Node.js and npm: the distribution's (18 on Debian 12, 20 on Debian 13), and only when the command is
# missing, so that a Node.js already on the machine (NodeSource's, whose nodejs brings its own npm) is kept.
if command -v node >/dev/null; then
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if ((node_major < node_major_min)); then
    echo "prereqs: $(command -v node) is Node.js $(node --version); the project needs $node_major_min or newer (package.json engines)" >&2
    exit 1
  fi
else
  missing+=(nodejs)
fi
command -v npm >/dev/null || missing+=(npm)

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "prereqs: all ${#packages[@]} packages present, and Node.js $(node --version) with npm $(npm --version)"
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "prereqs: missing ${missing[*]}; installing them needs root, and sudo is not installed." >&2
    echo "prereqs: as root, run: apt-get install --no-install-recommends ${missing[*]}" >&2
    echo "prereqs: (or run this script as root, or install sudo and give $(id -un) the right to use it)" >&2
    exit 1
  fi
  as_root=(sudo)
fi

echo "prereqs: installing ${missing[*]}${as_root[*]:+ (with sudo)}"
# Packages such as nginx and prometheus start their service on install; on this control machine nothing
# should listen on their ports, so service starts are refused for the duration of the install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
  own_policy=1
fi
trap '[[ $own_policy -eq 1 ]] && "${as_root[@]}" rm -f "$policy"' EXIT

"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "prereqs: done"
