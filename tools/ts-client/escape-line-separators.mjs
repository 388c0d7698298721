// Works around hey-api/hey-api#4431 (in @hey-api/openapi-ts 0.95.0): the generator turns every
// `\uXXXX` of its output back into the character, also inside the regular expressions it
// writes for the spec's `pattern`s. The notes' `text` pattern names U+2028 and U+2029, which
// are line terminators: raw, they end the regex literal and the file does not compile. This
// writes those two back as escapes in every generated file (the other characters mean the same
// raw as escaped). Run by the generator after it writes (postProcess in openapi-ts.config.ts).
//
//   node escape-line-separators.mjs DIR
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node escape-line-separators.mjs DIR');
  process.exit(2);
}
for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
  const path = join(entry.parentPath, entry.name);
  const text = readFileSync(path, 'utf8');
  const fixed = text.replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029');
  if (fixed !== text) writeFileSync(path, fixed);
}
