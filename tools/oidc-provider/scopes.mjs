// The scopes an API declares: every scope named in a security requirement of its OpenAPI
// document (the top-level `security` and each operation's), sorted. Resources declare their
// scopes in Rust (`impl Scope for ...`), the served document lists each operation's, and the
// checked-in openapi.json at the repository root equals the served one (a test holds them
// equal): so the provider and the scripts take the scopes from the document, and a new
// resource's scopes need no edit here.
//
//   node scopes.mjs [FILE|URL]     # prints them on one line, space-separated
//
// Without an argument it reads the repository's openapi.json. A URL is fetched (http or
// https): scripts/contract-test reads the running service's /openapi.json. Exits 2, saying
// why, when the document cannot be read or declares no scope (the document served with
// authentication off has no security requirements).
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository's checked-in OpenAPI document. */
export const DEFAULT_OPENAPI = fileURLToPath(new URL('../../openapi.json', import.meta.url));

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** Reads an OpenAPI document (JSON) from a file path or an http(s) URL. */
export async function loadDocument(source) {
  let text;
  if (/^https?:\/\//i.test(source)) {
    let response;
    try {
      response = await fetch(source, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new Error(`${source}: ${err.cause?.message ?? err.message}`);
    }
    if (!response.ok) throw new Error(`${source}: HTTP ${response.status}`);
    text = await response.text();
  } else {
    text = await readFile(source, 'utf8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${source} is not a JSON OpenAPI document: ${err.message}`);
  }
}

/** Every scope named in the document's security requirements, sorted, without repeats. */
export function declaredScopes(doc) {
  const found = new Set();
  const add = (requirements, where) => {
    if (requirements === undefined) return;
    if (!Array.isArray(requirements)) throw new Error(`${where}: security is not an array`);
    for (const requirement of requirements) {
      for (const [scheme, scopes] of Object.entries(requirement ?? {})) {
        if (!Array.isArray(scopes)) throw new Error(`${where}: security.${scheme} is not an array`);
        for (const scope of scopes) {
          if (typeof scope !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
            throw new Error(`${where}: ${JSON.stringify(scope)} is not a scope (RFC 6749 scope-token)`);
          }
          found.add(scope);
        }
      }
    }
  };
  add(doc?.security, 'the document');
  for (const [path, item] of Object.entries(doc?.paths ?? {})) {
    for (const [method, operation] of Object.entries(item ?? {})) {
      if (METHODS.has(method)) add(operation?.security, `${method.toUpperCase()} ${path}`);
    }
  }
  return [...found].sort();
}

/** The scopes declared by the document at `source` (a file or URL); throws if there is none. */
export async function scopesOf(source) {
  const scopes = declaredScopes(await loadDocument(source));
  if (scopes.length === 0) {
    throw new Error(`${source} declares no scope in its security requirements (the document `
      + 'served with authentication off has none)');
  }
  return scopes;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args.length > 1) {
    process.stderr.write('usage: node scopes.mjs [FILE|URL]\n');
    process.exit(2);
  }
  try {
    process.stdout.write(`${(await scopesOf(args[0] ?? DEFAULT_OPENAPI)).join(' ')}\n`);
  } catch (err) {
    process.stderr.write(`scopes: ${err.message}\n`);
    process.exit(2);
  }
}
