// Which client a connection counts against: its IPv4 address, or for IPv6 its /64, the block one host
// (one customer, one LAN) gets and can pick new addresses from at will.
import { isIPv6 } from 'node:net';

export function clientGroup(remoteAddress: string | undefined): string {
  if (!remoteAddress) return '';
  const address = remoteAddress.replace(/%.*$/, ''); // a zone (fe80::1%eth0) is not part of the address
  const mappedIPv4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mappedIPv4) return mappedIPv4[1]!;
  if (!isIPv6(address)) return address;
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const part = (text: string | undefined) => (text ? text.split(':').flatMap(groupsOf) : []);
  const left = part(head);
  const right = part(tail);
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right];
}

/** One group, or two for an IPv4 tail (::ffff:1.2.3.4 and the like). */
function groupsOf(piece: string): string[] {
  if (!piece.includes('.')) return [Number.parseInt(piece, 16).toString(16)];
  const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
