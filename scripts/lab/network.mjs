// The lab's segment on this machine: a bridge with an address, and a table that keeps its traffic on it.
import fs from 'node:fs';
import { $ } from 'zx';
import { BRIDGE, BRIDGE_ADDRESS } from './layout.mjs';
import { say } from './processes.mjs';

const FIREWALL_TABLE = 'av_lab';

// Forwarding is off on this machine; this keeps the lab's traffic on the bridge even if someone turns it on.
// Only the lab's own table: this machine's other tables are not touched.
const FIREWALL = `table inet ${FIREWALL_TABLE} {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${BRIDGE}" oifname != "${BRIDGE}" drop
    oifname "${BRIDGE}" iifname != "${BRIDGE}" drop
  }
}
`;

export async function ensureBridge() {
  if (!(await linkExists(BRIDGE))) {
    await $`ip link add ${BRIDGE} type bridge`;
    await disableIpv6(BRIDGE);
    say(`made bridge ${BRIDGE}`);
  }
  if (!(await bridgeAddresses()).includes(BRIDGE_ADDRESS)) await $`ip addr add ${BRIDGE_ADDRESS}/24 dev ${BRIDGE}`;
  await $`ip link set ${BRIDGE} up`;
}

export async function removeBridge() {
  if (await linkExists(BRIDGE)) await $`ip link delete ${BRIDGE}`;
}

export async function bridgeIsUp() {
  return (await linkExists(BRIDGE)) && (await bridgeAddresses()).includes(BRIDGE_ADDRESS);
}

// IPv4 only on the lab's segment: no link-local IPv6 chatter from this machine's side of it
export async function disableIpv6(link) {
  await fs.promises.writeFile(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1').catch(() => {});
}

export async function linkExists(name) {
  return (await $`ip link show dev ${name}`.nothrow()).ok;
}

async function bridgeAddresses() {
  const { stdout } = await $`ip -j -4 addr show dev ${BRIDGE}`.nothrow();
  return (JSON.parse(stdout || '[]')[0]?.addr_info ?? []).map((a) => a.local);
}

export async function ensureFirewall() {
  if (!(await firewallExists())) await $({ input: FIREWALL })`nft -f -`;
}

export async function removeFirewall() {
  if (await firewallExists()) await $`nft delete table inet ${FIREWALL_TABLE}`;
}

async function firewallExists() {
  return (await $`nft list table inet ${FIREWALL_TABLE}`.nothrow()).ok;
}
