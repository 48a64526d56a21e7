/**
 * The rate-limit key of an anonymous caller's address. An IPv4 address is one caller. An IPv6
 * caller usually holds a whole /64 (one customer's network, SLAAC privacy addresses rotating inside
 * it), so keying by the full address would give it 2^64 buckets and as many limiter objects: IPv6
 * is keyed by its /64 prefix.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(":")) return `ip:${ip}`;
  const groups = expandIpv6(ip);
  if (!groups) return `ip:${ip}`;
  // ::ffff:a.b.c.d is an IPv4 caller seen through a dual stack.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `ip:${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `ip6:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail), or undefined. */
function expandIpv6(ip: string): number[] | undefined {
  const zone = ip.indexOf("%");
  let text = (zone >= 0 ? ip.slice(0, zone) : ip).toLowerCase();
  const tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    if ([a, b, c, d].some((n) => n > 255)) return undefined;
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16));
}
