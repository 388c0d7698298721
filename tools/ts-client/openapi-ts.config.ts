// The client scripts/client-check generates from the repository's openapi.json (CLIENT_SPEC:
// another document): the fetch client, its SDK functions, and zod schemas with which the SDK
// checks every response body against the spec at runtime.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: process.env.CLIENT_SPEC ?? '../../openapi.json',
  output: {
    path: 'generated',
    // Node.js ESM (tsconfig.json: NodeNext) imports files by their full name.
    module: { extension: '.js' },
    postProcess: [{ command: 'node', args: ['escape-line-separators.mjs', '{{path}}'] }],
  },
  plugins: [
    '@hey-api/client-fetch',
    'zod',
    // Each request and each response body is checked against the spec's schema.
    { name: '@hey-api/sdk', validator: true },
  ],
});
