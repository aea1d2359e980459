// JWT authentication through the real gateway on both engines: signatures (RS256, ES256,
// HS256), exp/nbf/iat with skew, issuer and audience, alg none and HS-vs-RS confusion,
// scopes in `allow`, claims mapped to headers, JWKS rotation and the JWKS going down,
// the verified-token cache honouring exp, and bodies held while a token is verified.
import t from 'tap';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ENGINES, startGatewayProcess } from './helpers/gateway-process.js';
import { startUpstream } from './helpers/upstream.js';
import { startJwksServer } from './helpers/jwks-server.js';
import { request } from './helpers/client.js';

const ISS = 'https://idp.test/';
const HS_SECRET = 'a-shared-secret-that-is-at-least-32-bytes-long';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

async function keyPair(alg: 'RS256' | 'ES256', kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk, pem: await exportSPKI(publicKey) };
}
type Pair = Awaited<ReturnType<typeof keyPair>>;

let jti = 0;
function sign(pair: Pair, claims: JWTPayload = {}, opts: { exp?: number; nbf?: number; iat?: number; iss?: string; aud?: string } = {}): Promise<string> {
  const body = { sub: 'user-1', jti: String(++jti), ...claims };
  let j = new SignJWT(body).setProtectedHeader({ alg: pair.alg, kid: pair.kid }).setIssuer(opts.iss ?? ISS).setAudience(opts.aud ?? 'api')
    .setIssuedAt(opts.iat ?? now()).setExpirationTime(opts.exp ?? now() + 600);
  if (opts.nbf !== undefined) j = j.setNotBefore(opts.nbf);
  return j.sign(pair.privateKey);
}

function hs256(payload: JWTPayload, secret: string | Buffer, header: Record<string, unknown> = {}): string {
  const signing = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64({ jti: String(++jti), ...payload })}`;
  return `${signing}.${createHmac('sha256', secret).update(signing).digest('base64url')}`;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('JWT', async (t) => {
  const rsa1 = await keyPair('RS256', 'r1');
  const rsa2 = await keyPair('RS256', 'r2');
  const ec = await keyPair('ES256', 'e1');
  // One key per family for the algorithm matrix (keys from the config, no kid).
  // Node KeyObjects: unlike WebCrypto keys, one RSA key signs RS256/384/512 and PS256.
  const family = {
    rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    p384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    ed: generateKeyPairSync('ed25519'),
  };
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
  const matrix: Array<[string, KeyObject | Uint8Array]> = [
    ['HS256', new TextEncoder().encode(HS_SECRET)], ['HS384', new TextEncoder().encode(HS_SECRET)], ['HS512', new TextEncoder().encode(HS_SECRET)],
    ['RS256', family.rsa.privateKey], ['RS384', family.rsa.privateKey], ['RS512', family.rsa.privateKey],
    ['PS256', family.rsa.privateKey], ['ES384', family.p384.privateKey], ['EdDSA', family.ed.privateKey],
  ];
  for (const engine of ENGINES) {
    await t.test(`${engine} engine`, async (t) => {
      const jwks = await startJwksServer([rsa1.jwk, ec.jwk]);
      const up = await startUpstream();
      const gw = await startGatewayProcess({
        consumers: [{ id: 'alice', groups: ['admins'], tenant: 'acme', keys: [{ key: 'alice-key-123' }] }],
        auth: {
          keys: { type: 'api-key' },
          corp: {
            type: 'jwt', jwksUrl: jwks.url, algorithms: ['RS256', 'ES256'], issuers: [ISS], audiences: ['api'], clockSkewSec: 30,
            groupsClaim: 'groups', claimHeaders: { email: 'x-user-email' }, jwks: { minRefreshIntervalMs: 300 },
          },
          hs: { type: 'jwt', algorithms: ['HS256'], keys: [{ secret: HS_SECRET }], clockSkewSec: 0, requiredClaims: ['exp'] },
          algs: {
            type: 'jwt', algorithms: matrix.map(([alg]) => alg),
            keys: [{ secret: HS_SECRET }, { publicKey: pem(family.rsa.publicKey) }, { publicKey: pem(family.p384.publicKey) }, { publicKey: pem(family.ed.publicKey) }],
          },
          strict: { type: 'jwt', keys: [{ publicKey: rsa1.pem }], algorithms: ['RS256'], requireConsumer: true },
        },
        upstreams: { up: { targets: [{ url: up.url }] } },
        routes: [
          { name: 'jwt', match: { prefix: '/jwt' }, upstream: 'up', auth: ['corp'] },
          { name: 'admin', match: { prefix: '/admin-api' }, upstream: 'up', auth: ['keys', 'corp'], allow: { groups: ['admins'], scopes: ['admin:write'] } },
          { name: 'hs', match: { prefix: '/hs' }, upstream: 'up', auth: ['hs'] },
          { name: 'strict', match: { prefix: '/strict' }, upstream: 'up', auth: ['strict'] },
          { name: 'algs', match: { prefix: '/algs' }, upstream: 'up', auth: ['algs'] },
          { name: 'public', match: { prefix: '/public' }, upstream: 'up' },
        ],
      }, engine);
      t.teardown(async () => { await gw.stop(); await up.close(); await jwks.close(); });
      const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
        request(`${gw.url}${path}`, { headers: token ? { ...bearer(token), ...headers } : headers });

      await t.test('valid RS256 and ES256 tokens pass, with identity and claim headers upstream', async (t) => {
        const r = await get('/jwt', await sign(rsa1, { email: 'u1@example.com', groups: ['staff', 'ops'] }));
        t.equal(r.status, 200);
        t.equal(r.json.headers['x-consumer-id'], 'user-1');
        t.equal(r.json.headers['x-consumer-groups'], 'staff,ops');
        t.equal(r.json.headers['x-user-email'], 'u1@example.com');
        t.equal(r.json.headers.authorization?.startsWith('Bearer '), true, 'the token itself is forwarded');
        t.equal((await get('/jwt', await sign(ec))).status, 200, 'ES256');
      });

      await t.test('every supported algorithm verifies with a key from the config', async (t) => {
        for (const [alg, key] of matrix) {
          const token = await new SignJWT({ sub: `svc-${alg}` }).setProtectedHeader({ alg }).setExpirationTime('10m').sign(key);
          const r = await get('/algs', token);
          t.equal(r.status, 200, alg);
          t.equal(r.json?.headers['x-consumer-id'], `svc-${alg}`);
        }
        const wrongKey = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES384' }).setExpirationTime('10m').sign(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
        t.equal((await get('/algs', wrongKey)).status, 401, 'a key of the right type but not ours');
      });

      await t.test('missing or malformed tokens: 401 with a Bearer challenge', async (t) => {
        const missing = await get('/jwt');
        t.equal(missing.status, 401);
        t.equal(missing.headers['www-authenticate'], 'Bearer realm="edge-gateway"');
        const junk = await get('/jwt', 'not-a-jwt');
        t.equal(junk.status, 401);
        t.match(junk.headers['www-authenticate'], /error="invalid_token"/);
        t.equal(junk.json.error.message, 'credentials are not valid: malformed token');
        t.equal((await get('/jwt', undefined, { authorization: 'Basic dXNlcjpwYXNz' })).status, 401, 'another scheme is not a token');
      });

      await t.test('time claims: exp, nbf, iat with the configured skew', async (t) => {
        const expired = await get('/jwt', await sign(rsa1, {}, { exp: now() - 120, iat: now() - 600 }));
        t.equal(expired.status, 401);
        t.equal(expired.json.error.message, 'credentials are not valid: token expired');
        t.equal((await get('/jwt', await sign(rsa1, {}, { exp: now() - 10, iat: now() - 600 }))).status, 200, 'expired 10 s ago is within the 30 s skew');
        const early = await get('/jwt', await sign(rsa1, {}, { nbf: now() + 120 }));
        t.equal(early.status, 401, 'not yet valid');
        t.match(early.json.error.message, /nbf/);
        t.equal((await get('/jwt', await sign(rsa1, {}, { nbf: now() + 10 }))).status, 200, 'nbf 10 s ahead is within the skew');
        const future = await get('/jwt', await sign(rsa1, {}, { iat: now() + 120 }));
        t.equal(future.status, 401);
        t.match(future.json.error.message, /iat/);
      });

      await t.test('issuer and audience allow-lists', async (t) => {
        const iss = await get('/jwt', await sign(rsa1, {}, { iss: 'https://evil.test/' }));
        t.equal(iss.status, 401);
        t.match(iss.json.error.message, /iss/);
        const aud = await get('/jwt', await sign(rsa1, {}, { aud: 'other' }));
        t.equal(aud.status, 401);
        t.match(aud.json.error.message, /aud/);
      });

      await t.test('tampered, alg:none and HS-vs-RS confusion tokens are refused', async (t) => {
        const good = await sign(rsa1, { role: 'user' });
        const [h, , s] = good.split('.');
        const tampered = `${h}.${b64({ sub: 'admin', iss: ISS, aud: 'api', exp: now() + 600, role: 'admin' })}.${s}`;
        const bad = await get('/jwt', tampered);
        t.equal(bad.status, 401);
        t.equal(bad.json.error.message, 'credentials are not valid: signature verification failed');
        const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'admin', iss: ISS, aud: 'api', exp: now() + 600 })}.`;
        t.equal((await get('/jwt', none)).status, 401, 'alg none');
        // HMAC signed with the RSA public key (what a confused verifier would accept).
        const confused = hs256({ sub: 'admin', iss: ISS, aud: 'api', exp: now() + 600 }, rsa1.pem, { kid: 'r1' });
        const c = await get('/jwt', confused);
        t.equal(c.status, 401, 'HS256 token against an RSA key');
        t.equal(c.json.error.message, 'credentials are not valid: token algorithm not allowed');
        const c2 = await get('/strict', hs256({ sub: 'alice', exp: now() + 600 }, rsa1.pem));
        t.equal(c2.status, 401, 'also when only a PEM key is configured');
      });

      await t.test('HS256 with a configured secret; required claims; the cache never outlives exp', async (t) => {
        t.equal((await get('/hs', hs256({ sub: 'svc', exp: now() + 600 }, HS_SECRET))).status, 200);
        t.equal((await get('/hs', hs256({ sub: 'svc', exp: now() + 600 }, 'wrong-secret-wrong-secret-wrong-secret'))).status, 401);
        const noExp = await get('/hs', hs256({ sub: 'svc' }, HS_SECRET));
        t.equal(noExp.status, 401);
        t.match(noExp.json.error.message, /exp/);
        // exp two seconds ahead (one could be ~0 ms on a second boundary), then wait past it
        const exp = now() + 2;
        const short = hs256({ sub: 'svc', exp }, HS_SECRET);
        t.equal((await get('/hs', short)).status, 200);
        t.equal((await get('/hs', short)).status, 200, 'again (from the cache)');
        await new Promise((r) => setTimeout(r, exp * 1000 + 150 - Date.now()));
        t.equal((await get('/hs', short)).status, 401, 'expired: the cached verdict is gone');
      });

      await t.test('requireConsumer: the subject must be a configured consumer', async (t) => {
        const strict = (sub: string) => sign(rsa1, { sub });
        const known = await get('/strict', await strict('alice'));
        t.equal(known.status, 200);
        t.equal(known.json.headers['x-tenant-id'], 'acme');
        t.equal(known.json.headers['x-consumer-groups'], 'admins');
        const unknown = await get('/strict', await strict('mallory'));
        t.equal(unknown.status, 401);
        t.match(unknown.json.error.message, /unknown consumer/);
      });

      await t.test('allow: a group (API key) or a scope (JWT) admits; others get 403', async (t) => {
        t.equal((await get('/admin-api', undefined, { 'x-api-key': 'alice-key-123' })).status, 200, 'group admins via API key');
        t.equal((await get('/admin-api', await sign(rsa1, { scope: 'read admin:write' }))).status, 200, 'scope claim');
        t.equal((await get('/admin-api', await sign(ec, { scp: ['admin:write'] }))).status, 200, 'scp claim');
        const no = await get('/admin-api', await sign(rsa1, { scope: 'read' }));
        t.equal(no.status, 403);
        t.equal(no.json.error.code, 'forbidden');
      });

      await t.test('spoofed claim headers are removed', async (t) => {
        const pub = await get('/public', undefined, { 'x-user-email': 'ceo@example.com', 'x-consumer-id': 'root' });
        t.equal(pub.json.headers['x-user-email'], undefined);
        t.equal(pub.json.headers['x-consumer-id'], undefined);
        const r = await get('/jwt', await sign(rsa1), { 'x-user-email': 'ceo@example.com' });
        t.equal(r.status, 200);
        t.equal(r.json.headers['x-user-email'], undefined, 'token without the claim: no header at all');
      });

      await t.test('a body sent while a new token is verified reaches the upstream intact', async (t) => {
        for (const size of [10, 3 * 1024 * 1024]) {
          const body = Buffer.alloc(size, 'x');
          const before = up.seen.length;
          const r = await request(`${gw.url}/jwt/upload`, { method: 'POST', headers: { ...bearer(await sign(ec)), 'content-type': 'application/octet-stream' }, body });
          t.equal(r.status, 200, `${size} bytes`);
          t.equal(up.seen.length, before + 1);
          t.equal(up.seen.at(-1)!.body.length, size);
          t.ok(up.seen.at(-1)!.body.equals(body), 'same bytes');
        }
      });

      await t.test('JWKS rotation, rate-limited refetch, and stale keys while the JWKS is down', async (t) => {
        jwks.keys = [rsa2.jwk];
        await new Promise((r) => setTimeout(r, 350)); // past minRefreshIntervalMs
        const rotated = await get('/jwt', await sign(rsa2));
        t.equal(rotated.status, 200, 'an unknown kid triggers a fetch of the new set');
        jwks.down = true;
        const fetches = jwks.fetches;
        const unknownKid = await keyPair('RS256', 'r9');
        const replies = await Promise.all(Array.from({ length: 20 }, async () => (await get('/jwt', await sign(unknownKid))).status));
        t.same([...new Set(replies)], [401], 'unknown kid: refused');
        t.ok(jwks.fetches - fetches <= 1, `unknown kids fetch at most once per interval (${jwks.fetches - fetches} fetches)`);
        await new Promise((r) => setTimeout(r, 350));
        t.equal((await get('/jwt', await sign(unknownKid))).status, 401);
        t.equal((await get('/jwt', await sign(rsa2))).status, 200, 'the JWKS is down: cached keys still verify new tokens');
        t.match(gw.output(), /JWKS fetch failed; using the cached keys/);
        jwks.down = false;
      });
    });
  }
});
