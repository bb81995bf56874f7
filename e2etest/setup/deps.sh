#!/usr/bin/env bash
# Installs the Debian packages Portico's tests and lab use, idempotently.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
# The network lab (e2etest/netlab): ip for namespaces, veth and the bridge;
# nft for kube-proxy's nftables mode; ping, arping and tcpdump to poke and
# watch the lab by hand (`make lab`); keepalived is the reference the failover
# bench measures Portico against. ip, nft, tcpdump and keepalived live in /usr/sbin,
# which an ordinary user's PATH often lacks, so look there too.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have ip || need+=(iproute2)
have nft || need+=(nftables)
have ping || need+=(iputils-ping)
have arping || need+=(iputils-arping)
have tcpdump || need+=(tcpdump)
have keepalived || need+=(keepalived)
# Real servers behind ExternalService tests (controller/probe/...): MariaDB,
# Redis and dnsmasq as the DNS server, with their clients to poke them by hand.
have mariadbd || need+=(mariadb-server)
have mariadb || need+=(mariadb-client)
have redis-server || need+=(redis-server)
have redis-cli || need+=(redis-tools)
have dnsmasq || need+=(dnsmasq)
# The lab's BGP router (e2etest/frr): FRR's zebra and bgpd, which the harness
# starts itself with its own config and sockets. frr-pythontools is not
# needed (no frr-reload). Debian's package enables and starts the frr service
# on install where systemd runs; the harness needs no system FRR, so when
# this script installed it, it stops and disables it again (below).
[ -x /usr/lib/frr/bgpd ] && [ -x /usr/lib/frr/zebra ] && have vtysh || need+=(frr)
if [ "${#need[@]}" -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install ${need[*]} (apt-get); run as root or install them yourself" >&2
	exit 1
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [[ " ${need[*]} " == *" frr "* ]] && [ -d /run/systemd/system ]; then
	systemctl disable --now frr.service >/dev/null 2>&1 || true
fi
