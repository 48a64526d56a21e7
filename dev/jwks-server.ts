/**
 * A stand-in for an identity provider's key endpoint (Auth0, Cloudflare Access...), for the tests
 * and for trying RS256/ES256 tokens locally (AUTH_JWKS_URL=<url>/sets/default/jwks.json). Each named
 * key set has one ES256 key pair at a time; the private key never leaves this process:
 *   GET  /sets/<name>/jwks.json   the public keys (a JWKS), counted
 *   POST /sets/<name>/rotate      a new key pair replaces the old one (the old key id disappears)
 *   POST /sets/<name>/sign        {"claims":{...},"expiresIn":"1h"} -> {"token":"..."} signed with the current key
 *   GET  /sets/<name>/stats       {"fetches": n, "kid": "..."}
 * Named sets let test files rotate keys without disturbing each other.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from "jose";

const ALG = "ES256";

interface KeySet {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  fetches: number;
}

export interface JwksServer {
  /** Base URL; a set's JWKS is at `${url}/sets/<name>/jwks.json`. */
  url: string;
  close(): Promise<void>;
}

async function newKeySet(fetches = 0): Promise<KeySet> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const kid = crypto.randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: ALG, use: "sig" }, fetches };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : {};
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export async function startJwksServer(options: { host?: string; port?: number } = {}): Promise<JwksServer> {
  const sets = new Map<string, KeySet>();
  const setNamed = async (name: string): Promise<KeySet> => {
    let set = sets.get(name);
    if (!set) {
      set = await newKeySet();
      sets.set(name, set);
    }
    return set;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = /^\/sets\/([\w-]{1,64})\/(jwks\.json|rotate|sign|stats)$/.exec(
      new URL(req.url ?? "/", "http://x").pathname,
    );
    if (!m) return send(res, 404, { error: "not found" });
    const [, name, action] = m as unknown as [string, string, string];
    const set = await setNamed(name);
    if (action === "jwks.json" && req.method === "GET") {
      set.fetches++;
      return send(res, 200, { keys: [set.publicJwk] });
    }
    if (action === "stats" && req.method === "GET") return send(res, 200, { fetches: set.fetches, kid: set.kid });
    if (action === "rotate" && req.method === "POST") {
      const next = await newKeySet(set.fetches);
      sets.set(name, next);
      return send(res, 200, { kid: next.kid });
    }
    if (action === "sign" && req.method === "POST") {
      const body = (await readJson(req)) as { claims?: JWTPayload; expiresIn?: string | number };
      const token = await new SignJWT(body.claims ?? {})
        .setProtectedHeader({ alg: ALG, kid: set.kid, typ: "JWT" })
        .setIssuedAt()
        .setExpirationTime(body.expiresIn ?? "1h")
        .sign(set.privateKey);
      return send(res, 200, { token });
    }
    return send(res, 405, { error: "method not allowed" });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: err instanceof Error ? err.message : "failed" }));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}
