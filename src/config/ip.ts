import { isIP } from 'node:net';

/**
 * IP address helpers for the caller allow-list.
 *
 * A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 addresses
 * ("::ffff:127.0.0.1"), and admins may write either form in the config, so
 * addresses are compared in a canonical form: IPv4 (and IPv4-mapped IPv6) as
 * a dotted quad, other IPv6 addresses lower-case and compressed (RFC 5952).
 */

/** Canonical text for an IP address, or null if `text` is not an IP address. */
export function canonicalIp(text: string): string | null {
  const kind = isIP(text);
  if (kind === 4) return text;
  if (kind !== 6) return null;
  let address = text;
  let zone = '';
  const percent = address.indexOf('%');
  if (percent >= 0) {
    zone = address.slice(percent);
    address = address.slice(0, percent);
  }
  const groups = expandIpv6(address);
  if (groups === null) return null;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    const hi = groups[6]!;
    const lo = groups[7]!;
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return compressIpv6(groups) + zone;
}

/** True if both are IP addresses naming the same host (zone ids are ignored). */
export function sameIp(a: string, b: string): boolean {
  const ca = canonicalIp(a);
  const cb = canonicalIp(b);
  if (ca === null || cb === null) return false;
  return stripZone(ca) === stripZone(cb);
}

function stripZone(address: string): string {
  const percent = address.indexOf('%');
  return percent >= 0 ? address.slice(0, percent) : address;
}

/** Eight 16-bit groups of an IPv6 address already accepted by net.isIP. */
function expandIpv6(address: string): number[] | null {
  const parseSide = (side: string): number[] | null => {
    if (side === '') return [];
    const out: number[] = [];
    const parts = side.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part.includes('.')) {
        if (i !== parts.length - 1) return null;
        const octets = part.split('.').map((o) => Number(o));
        if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return null;
        out.push((octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const head = parseSide(halves[0]!);
  if (head === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const tail = parseSide(halves[1]!);
  if (tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** RFC 5952 text: lower-case hex, longest run (>= 2) of zero groups as "::". */
function compressIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}
