// The Engine API as the page reaches it: every path is the Docker API's,
// under /api/ on the UI's own origin.

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function check(r) {
  if (r.ok) return r;
  let msg = r.statusText;
  try { msg = (await r.json()).message || msg; } catch {}
  throw new APIError(r.status, msg);
}

// A read not answered within this is given up: the page's refresh waits
// for all of its reads, and one answer that never came would stop it for
// good.
const READ_TIMEOUT_MS = 10000;

export async function get(path, signal) {
  const timeout = AbortSignal.timeout(READ_TIMEOUT_MS);
  const r = await check(await fetch('/api' + path, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout }));
  return r.json();
}

export async function post(path, body) {
  const r = await fetch('/api' + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  await check(r);
}

// filters encodes Docker's filters parameter.
export const filters = (f) => 'filters=' + encodeURIComponent(JSON.stringify(f));

// lines yields the lines of a streamed response (the event stream is
// newline-delimited JSON); onOpen is called once the stream is answered.
export async function* lines(path, onOpen, signal) {
  const r = await check(await fetch('/api' + path, { signal }));
  onOpen();
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) yield line;
    }
  }
}

// logChunks yields the text of a logs stream. Without a TTY the Engine
// API multiplexes stdout and stderr in frames: one byte for the stream,
// three zero bytes, the payload's length (big-endian), the payload.
export async function* logChunks(path, tty, signal) {
  const r = await check(await fetch('/api' + path, { signal }));
  const reader = r.body.getReader();
  const text = new TextDecoder();
  let buf = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    if (tty) { yield { stream: 1, text: text.decode(value, { stream: true }) }; continue; }
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf); joined.set(value, buf.length);
    buf = joined;
    while (buf.length >= 8) {
      const size = new DataView(buf.buffer, buf.byteOffset + 4, 4).getUint32(0);
      if (buf.length < 8 + size) break;
      yield { stream: buf[0], text: new TextDecoder().decode(buf.subarray(8, 8 + size)) };
      buf = buf.slice(8 + size);
    }
  }
}
