// What a frontend team does with the client generated from openapi.json, against a running
// service (scripts/client-check starts it, with authentication off): create, list, get,
// change (PATCH and PUT, each with If-Match) and delete a note. The generated SDK also checks
// every request and response body against the spec's schemas (the zod validators it wrote), so
// a field the service renames, drops or retypes fails here, even where this script never
// reads it.
//
//   node dist/check.js http://127.0.0.1:8000
//
// Exits 1 at the first mismatch, naming it.
import { client } from './generated/client.gen.js';
import {
  createNote,
  deleteNote,
  getNote,
  listNotes,
  replaceNote,
  updateNote,
} from './generated/sdk.gen.js';
import type { Note } from './generated/types.gen.js';
import { zNote } from './generated/zod.gen.js';
import * as z from 'zod';

class Mismatch extends Error {}

// The request under way, to name it when the SDK's validator throws.
let current = 'start';
function request<T>(what: string, call: Promise<T>): Promise<T> {
  current = what;
  return call;
}

function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Mismatch(what);
}

// The parts of a call's result this script reads (the generated functions return more).
interface Result<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

// The status the spec promises, then the body: a wrong status shows the problem the service sent.
function answered<T>(what: string, result: Result<T>, status: number): { data: T; response: Response } {
  const { response } = result;
  expect(response !== undefined, `${what}: no response (${String(result.error)})`);
  expect(
    response.status === status,
    `${what}: status ${response.status}, expected ${status}: ${JSON.stringify(result.error ?? result.data)}`,
  );
  return { data: result.data as T, response };
}

function etagOf(what: string, response: Response): string {
  const etag = response.headers.get('etag');
  expect(etag !== null && etag.length > 0, `${what}: no ETag header`);
  return etag;
}

// The validators accept fields the spec does not name; a frontend's types would not have them.
const specFields = Object.keys(zNote.shape).sort().join(',');
function sameFields(what: string, note: Note): void {
  const fields = Object.keys(note).sort().join(',');
  expect(fields === specFields, `${what}: fields ${fields}, the spec's Note has ${specFields}`);
}

async function main(baseUrl: string): Promise<void> {
  client.setConfig({ baseUrl });
  const text = `from the typed client ${Date.now()}`;

  const created = answered('POST /notes', await request('POST /notes', createNote({ body: { text } })), 201);
  const note = created.data;
  sameFields('POST /notes', note);
  expect(note.text === text && note.completed === false, `POST /notes: got ${JSON.stringify(note)}`);
  expect(
    created.response.headers.get('location') === `/notes/${note.id}`,
    `POST /notes: Location ${created.response.headers.get('location')}, expected /notes/${note.id}`,
  );
  const etag = etagOf('POST /notes', created.response);

  const listed = answered('GET /notes', await request('GET /notes', listNotes({ query: { limit: 100, order: 'desc' } })), 200);
  const inList = listed.data.find((n) => n.id === note.id);
  expect(inList !== undefined, `GET /notes?order=desc: note ${note.id} is not on the first page`);
  expect(JSON.stringify(inList) === JSON.stringify(note), `GET /notes: ${JSON.stringify(inList)} is not what POST returned`);

  const got = answered(`GET /notes/${note.id}`, await request(`GET /notes/${note.id}`, getNote({ path: { id: note.id } })), 200);
  sameFields(`GET /notes/${note.id}`, got.data);
  expect(JSON.stringify(got.data) === JSON.stringify(note), `GET /notes/${note.id}: ${JSON.stringify(got.data)}`);
  expect(etagOf(`GET /notes/${note.id}`, got.response) === etag, `GET /notes/${note.id}: the ETag changed without a write`);

  const patched = answered(
    `PATCH /notes/${note.id}`,
    await request(
      `PATCH /notes/${note.id}`,
      updateNote({ path: { id: note.id }, headers: { 'If-Match': etag }, body: { completed: true } }),
    ),
    200,
  );
  expect(
    patched.data.completed === true && patched.data.text === text,
    `PATCH /notes/${note.id}: got ${JSON.stringify(patched.data)}`,
  );
  const patchedEtag = etagOf(`PATCH /notes/${note.id}`, patched.response);
  expect(patchedEtag !== etag, `PATCH /notes/${note.id}: the ETag did not change`);

  // The ETag from before the PATCH is stale now: the write is refused, and nothing changes.
  const stale = await request(
    `PUT /notes/${note.id} with a stale If-Match`,
    replaceNote({ path: { id: note.id }, headers: { 'If-Match': etag }, body: { text: 'lost update', completed: false } }),
  );
  answered(`PUT /notes/${note.id} with a stale If-Match`, stale, 412);

  const replaced = answered(
    `PUT /notes/${note.id}`,
    await request(
      `PUT /notes/${note.id}`,
      replaceNote({
        path: { id: note.id },
        headers: { 'If-Match': patchedEtag },
        body: { text: `${text}, replaced`, completed: false },
      }),
    ),
    200,
  );
  sameFields(`PUT /notes/${note.id}`, replaced.data);
  expect(
    replaced.data.text === `${text}, replaced` && replaced.data.completed === false,
    `PUT /notes/${note.id}: got ${JSON.stringify(replaced.data)}`,
  );
  const replacedEtag = etagOf(`PUT /notes/${note.id}`, replaced.response);

  answered(
    `DELETE /notes/${note.id}`,
    await request(`DELETE /notes/${note.id}`, deleteNote({ path: { id: note.id }, headers: { 'If-Match': replacedEtag } })),
    204,
  );
  const gone = `GET /notes/${note.id} after the delete`;
  answered(gone, await request(gone, getNote({ path: { id: note.id } })), 404);

  console.log(`client-check: note ${note.id} created, listed, read, patched, replaced (a stale If-Match refused) and deleted`);
}

const baseUrl = process.argv[2];
if (baseUrl === undefined) {
  console.error('usage: node dist/check.js BASE_URL');
  process.exit(2);
}
main(baseUrl).catch((error: unknown) => {
  if (error instanceof z.ZodError) {
    // The SDK's validator: a body that does not match the spec's schema.
    console.error(`client-check: ${current}: the body does not match the spec:\n${z.prettifyError(error)}`);
  } else if (error instanceof Mismatch) {
    console.error(`client-check: ${error.message}`);
  } else {
    console.error(`client-check: ${current}: ${error instanceof Error ? error.stack : JSON.stringify(error)}`);
  }
  process.exit(1);
});
