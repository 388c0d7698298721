// A local OpenID Connect provider for notes-service tests and development: panva's
// oidc-provider with the client-credentials grant, issuing JWT access tokens (RFC 9068)
// for one API (the audience). Not for production: clients and keys live in memory, and
// the signing keys are new at every start (a restart is a key rotation).
//
//   node provider.mjs [--port 9000] [--audience notes-api] [--clients JSON] [--token-ttl 600]
//                     [--openapi FILE|URL | --scopes 'a:read a:write']
//
// Every option also reads an environment variable (OIDC_PORT, OIDC_AUDIENCE, OIDC_RESOURCE,
// OIDC_CLIENTS, OIDC_TOKEN_TTL, OIDC_OPENAPI, OIDC_SCOPES); an option given on the command
// line wins. --port 0 picks a free port.
//
// The API's scopes are the ones its OpenAPI document declares (scopes.mjs: every scope in a
// security requirement), read at start from --openapi, by default the repository's
// openapi.json, which a test keeps equal to the served document. So a resource's scopes,
// declared once in Rust, reach the provider with no edit here. --scopes (space-separated)
// gives them instead of a document. Once listening, it prints to stdout the scopes, each
// client's, and last the ready line:
//
//   oidc-provider scopes: notes:read notes:write
//   oidc-provider client notes-demo: notes:read notes:write
//   oidc-provider ready: issuer=http://127.0.0.1:PORT audience=notes-api resource=urn:notes-api
//
// Clients (--clients, a JSON array) take oidc-provider's client metadata names:
//   [{"client_id": "...", "client_secret": "...", "scope": "*:read", "alg": "ES256"}]
// `scope` lists what the client may ask for, space-separated: scope names, which must be
// among the API's, or patterns where `*` stands for any characters (`*` alone is every scope
// of the API, `*:read` every one ending in :read; each must match one at least). Without
// `scope`, the client may ask for every scope of the API. `alg` (RS256 by default, or PS256,
// ES256, EdDSA) signs its access tokens. A token (a client gets only the scopes it asks for;
// none asked for, a token without scope):
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

import { DEFAULT_OPENAPI, scopesOf } from './scopes.mjs';

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
      openapi: { type: 'string' },
      scopes: { type: 'string' },
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

// The API's scopes: --scopes or --openapi (the command line wins over the environment; one
// of the two at each level), else the repository's openapi.json.
function scopeSource() {
  for (const [scopes, openapi, names] of [
    [args.scopes, args.openapi, '--scopes or --openapi'],
    [env.OIDC_SCOPES || undefined, env.OIDC_OPENAPI || undefined, 'OIDC_SCOPES or OIDC_OPENAPI'],
  ]) {
    if (scopes !== undefined && openapi !== undefined) fail(`give ${names}, not both`);
    if (scopes !== undefined) return { scopes, from: 'the given scopes' };
    if (openapi !== undefined) return { openapi, from: openapi };
  }
  return { openapi: DEFAULT_OPENAPI, from: DEFAULT_OPENAPI };
}
const source = scopeSource();
let SCOPES;
if (source.scopes !== undefined) {
  SCOPES = [...new Set(source.scopes.split(/\s+/).filter(Boolean))].sort();
  if (SCOPES.length === 0) fail('--scopes names no scope');
} else {
  try {
    SCOPES = await scopesOf(source.openapi);
  } catch (err) {
    fail(`the API's scopes: ${err.message}`);
  }
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// A client's `scope`: names and `*` patterns, resolved against the API's scopes.
function clientScopes(client) {
  if (client.scope === undefined || client.scope === null) return SCOPES;
  if (typeof client.scope !== 'string' || client.scope.trim() === '') {
    fail(`client ${client.client_id}: scope is a non-empty string (leave it out, or "*", for every scope)`);
  }
  const granted = new Set();
  for (const entry of client.scope.split(/\s+/).filter(Boolean)) {
    if (entry.includes('*')) {
      const pattern = new RegExp(`^${entry.split('*').map(escapeRegExp).join('.*')}$`);
      const matched = SCOPES.filter((scope) => pattern.test(scope));
      if (matched.length === 0) {
        fail(`client ${client.client_id}: ${entry} matches none of the API's scopes (${SCOPES.join(' ')}, from ${source.from})`);
      }
      matched.forEach((scope) => granted.add(scope));
    } else if (entry === 'openid' || SCOPES.includes(entry)) {
      granted.add(entry);
    } else {
      fail(`client ${client.client_id}: ${entry} is not one of the API's scopes (${SCOPES.join(' ')}, from ${source.from})`);
    }
  }
  return [...granted];
}

const defaultClients = [{
  client_id: 'notes-demo',
  client_secret: 'notes-demo-secret',
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
clients = clients.map((c) => ({ ...c, scope: clientScopes(c).join(' ') }));

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
  // Listed scopes are checked against each client's `scope`: a client given only the read
  // scopes cannot obtain a write scope.
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

// One write, so that a reader that waits for the ready line finds the lines before it.
process.stdout.write([
  `oidc-provider scopes: ${SCOPES.join(' ')}`,
  ...clients.map((c) => `oidc-provider client ${c.client_id}: ${c.scope}`),
  `oidc-provider ready: issuer=${issuer} audience=${audience} resource=${resource}`,
].map((line) => `${line}\n`).join(''));
