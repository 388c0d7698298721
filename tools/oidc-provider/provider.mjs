// A local OpenID Connect provider for notes-service tests and development: panva's
// oidc-provider with the client-credentials grant, issuing JWT access tokens (RFC 9068)
// for one API (the audience). Not for production: clients and keys live in memory, and
// the signing keys are new at every start (a restart is a key rotation).
//
//   node provider.mjs [--port 9000] [--audience notes-api] [--clients JSON] [--token-ttl 600]
//
// Every option also reads an environment variable (OIDC_PORT, OIDC_AUDIENCE, OIDC_RESOURCE,
// OIDC_CLIENTS, OIDC_TOKEN_TTL); an option given on the command line wins. --port 0 picks a
// free port. Once listening, one line goes to stdout:
//
//   oidc-provider ready: issuer=http://127.0.0.1:PORT audience=notes-api resource=urn:notes-api
//
// Clients (--clients, a JSON array) take oidc-provider's client metadata names:
//   [{"client_id": "...", "client_secret": "...", "scope": "notes:read notes:write",
//     "alg": "ES256"}]
// `scope` lists what the client may ask for; `alg` (RS256 by default, or PS256, ES256,
// EdDSA) signs its access tokens. A token:
//
//   curl -s -u CLIENT_ID:SECRET -d grant_type=client_credentials \
//        -d resource=urn:notes-api -d 'scope=notes:read notes:write' ISSUER/token
//
// `resource` (RFC 8707) must be an absolute URI, so an audience that is not one (notes-api)
// is asked for as urn:notes-api (override with --resource); it is also the default, so a
// client may leave `resource` out. The token's `sub` is the client id (oidc-provider sets
// it so for client credentials; checked below, as the service requires `sub`).
import { generateKeyPair, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const SCOPES = ['notes:read', 'notes:write'];
const ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

function fail(message) {
  process.stderr.write(`oidc-provider: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      audience: { type: 'string' },
      resource: { type: 'string' },
      clients: { type: 'string' },
      'token-ttl': { type: 'string' },
    },
  }));
} catch (err) {
  fail(err.message);
}

const env = process.env;
const port = Number(args.port ?? env.OIDC_PORT ?? 9000);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad port ${args.port ?? env.OIDC_PORT}`);
const audience = args.audience ?? env.OIDC_AUDIENCE ?? 'notes-api';
const resource = args.resource ?? env.OIDC_RESOURCE
  ?? (URL.canParse(audience) ? audience : `urn:${audience}`);
if (!URL.canParse(resource)) fail(`the resource indicator must be an absolute URI: ${resource}`);
const tokenTtl = Number(args['token-ttl'] ?? env.OIDC_TOKEN_TTL ?? 600);
if (!Number.isInteger(tokenTtl) || tokenTtl < 1) fail('--token-ttl is a number of seconds');

const defaultClients = [{
  client_id: 'notes-demo',
  client_secret: 'notes-demo-secret',
  scope: SCOPES.join(' '),
}];
let clients;
try {
  clients = JSON.parse(args.clients ?? env.OIDC_CLIENTS ?? 'null') ?? defaultClients;
} catch (err) {
  fail(`--clients is not JSON: ${err.message}`);
}
if (!Array.isArray(clients) || clients.length === 0) fail('--clients is a non-empty JSON array');
const algOf = new Map();
for (const c of clients) {
  if (typeof c.client_id !== 'string' || typeof c.client_secret !== 'string') {
    fail('each client needs a client_id and a client_secret');
  }
  const alg = c.alg ?? 'RS256';
  if (!ALGS.includes(alg)) fail(`client ${c.client_id}: alg ${alg} is not one of ${ALGS.join(', ')}`);
  algOf.set(c.client_id, alg);
}

// SIGTERM / SIGINT: stop accepting, drop open connections, exit 0.
const server = createServer();
function stop(signal) {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // A stuck connection must not keep a test binary's cleanup waiting.
  setTimeout(() => process.exit(0), 2000).unref();
  process.stderr.write(`oidc-provider: ${signal}, stopping\n`);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

// One signing key per algorithm, new at every start; the JWKS publishes them all. Generated
// asynchronously: Node 20's generateKeyPairSync was seen to deadlock at start-up (about one
// start in 25) when garbage collection ran during the export.
const generate = promisify(generateKeyPair);
async function signingKey(alg, type, options) {
  const { privateKey } = await generate(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomUUID()}` };
}
const keys = await Promise.all([
  signingKey('RS256', 'rsa', { modulusLength: 2048 }),
  signingKey('PS256', 'rsa', { modulusLength: 2048 }),
  signingKey('ES256', 'ec', { namedCurve: 'P-256' }),
  signingKey('EdDSA', 'ed25519'),
]);

// Listen before configuring the provider: with --port 0 the issuer's port is known only
// once bound.
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
await new Promise((resolve) => { server.listen(port, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map(({ alg: _alg, ...metadata }) => ({
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...metadata,
  })),
  jwks: { keys },
  // Listed scopes are checked against each client's `scope`: a notes:read client cannot
  // obtain notes:write.
  scopes: ['openid', ...SCOPES],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      getResourceServerInfo: (_ctx, indicator, client) => {
        if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource; use ${resource}`);
        return {
          audience,
          scope: SCOPES.join(' '),
          accessTokenTTL: tokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: algOf.get(client.clientId) ?? 'RS256' } },
        };
      },
    },
  },
  formats: {
    customizers: {
      // The service requires `sub`; oidc-provider 9 sets it to the client id for client
      // credentials. Keep that guaranteed if a later version leaves it out.
      jwt: (_ctx, token, jwt) => {
        jwt.payload.sub ??= token.clientId;
      },
    },
  },
  // Swagger UI served from a local page may fetch tokens from the browser.
  clientBasedCORS: (_ctx, origin) => /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(origin),
});
// Errors a caller should see (bad client, scope, resource) are logged one line each.
provider.on('grant.error', (_ctx, err) => {
  process.stderr.write(`oidc-provider: token refused: ${err.error ?? err.name}: ${err.error_description ?? err.message}\n`);
});
server.on('request', provider.callback());

process.stdout.write(`oidc-provider ready: issuer=${issuer} audience=${audience} resource=${resource}\n`);
