/** Anonymous callers' rate-limit keys (functions/resilience/rate-limiter/address.ts). */
import { describe, expect, it } from "vitest";
import { addressKey } from "../../functions/resilience/rate-limiter/address.ts";

describe("addressKey", () => {
  it("keys an IPv4 address by itself", () => {
    expect(addressKey("203.0.113.7")).toBe("ip:203.0.113.7");
  });

  it("keys every address of one IPv6 /64 alike, however it is written", () => {
    const key = "ip6:2001:db8:85a3:42::/64";
    expect(addressKey("2001:db8:85a3:42::1")).toBe(key);
    expect(addressKey("2001:0db8:85a3:0042:ffff:ffff:ffff:ffff")).toBe(key);
    expect(addressKey("2001:DB8:85A3:42:1234:5678:9abc:def0")).toBe(key);
    expect(addressKey("2001:db8:85a3:42::1%eth0")).toBe(key);
  });

  it("keys neighbouring /64s apart", () => {
    expect(addressKey("2001:db8:85a3:43::1")).not.toBe(addressKey("2001:db8:85a3:42::1"));
    expect(addressKey("::1")).toBe("ip6:0:0:0:0::/64");
  });

  it("keys an IPv4-mapped IPv6 address as the IPv4 caller it is", () => {
    expect(addressKey("::ffff:203.0.113.7")).toBe("ip:203.0.113.7");
    expect(addressKey("::ffff:cb00:7107")).toBe("ip:203.0.113.7");
  });

  it("keeps a malformed address whole rather than guessing a prefix", () => {
    expect(addressKey("2001:db8::1::2")).toBe("ip:2001:db8::1::2");
    expect(addressKey("2001:db8:zz::1")).toBe("ip:2001:db8:zz::1");
  });
});
