/**
 * Minimal PNG chunk access for Character Cards: read and replace `tEXt` chunks.
 * Pure (Uint8Array only), so it runs in the browser and in Node tests alike.
 */

/** Thrown for anything that is not a well-formed PNG chunk stream. */
export class PngError extends Error {
  override name = 'PngError';
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

// Standard CRC-32 (polynomial 0xEDB88320), as PNG requires over chunk type + data.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

interface Chunk {
  type: string;
  data: Uint8Array;
  /** The whole chunk (length, type, data, crc), for copying it unchanged. */
  raw: Uint8Array;
}

/** The chunks up to and including IEND; throws on a bad signature or a chunk that runs past the end. */
function chunks(png: Uint8Array): Chunk[] {
  if (!isPng(png)) throw new PngError('Not a PNG file (bad signature)');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  let pos = 8;
  while (pos < png.length) {
    if (pos + 12 > png.length) throw new PngError(`Truncated PNG: incomplete chunk header at byte ${pos}`);
    const length = view.getUint32(pos); // unsigned, so a bogus huge length fails the bound check below
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) throw new PngError(`Corrupt PNG: invalid chunk type at byte ${pos}`);
    const end = pos + 12 + length;
    if (end > png.length) throw new PngError(`Truncated PNG: chunk ${type} at byte ${pos} runs past the end of the file`);
    out.push({ type, data: png.subarray(pos + 8, pos + 8 + length), raw: png.subarray(pos, end) });
    if (type === 'IEND') return out; // anything after IEND is ignored (and dropped on rewrite)
    pos = end;
  }
  throw new PngError('Truncated PNG: no IEND chunk');
}

const latin1 = (bytes: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
};

function parseText(data: Uint8Array): [string, string] | null {
  const nul = data.indexOf(0);
  if (nul < 1) return null; // malformed tEXt (no keyword): skip rather than fail the whole file
  return [latin1(data.subarray(0, nul)), latin1(data.subarray(nul + 1))];
}

/** tEXt chunks as keyword → text (Latin-1). When a keyword repeats, the first chunk wins. */
export function readTextChunks(png: Uint8Array): Map<string, string> {
  const map = new Map<string, string>();
  for (const c of chunks(png)) {
    if (c.type !== 'tEXt') continue;
    const kv = parseText(c.data);
    if (kv && !map.has(kv[0])) map.set(kv[0], kv[1]);
  }
  return map;
}

function encodeLatin1(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new PngError(`${what} must be Latin-1 (base64-encode other text first)`);
    out[i] = c;
  }
  return out;
}

function makeChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A copy of `png` without any tEXt chunk whose keyword is in `keywords`. */
export function removeTextChunks(png: Uint8Array, ...keywords: string[]): Uint8Array {
  const keep = chunks(png).filter((c) => {
    const kv = c.type === 'tEXt' ? parseText(c.data) : null;
    return !(kv && keywords.includes(kv[0]));
  });
  return concat([png.subarray(0, 8), ...keep.map((c) => c.raw)]);
}

/** A copy of `png` whose only tEXt chunk for `keyword` holds `text`, placed right before IEND. */
export function withTextChunk(png: Uint8Array, keyword: string, text: string): Uint8Array {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword)) throw new PngError(`Invalid PNG tEXt keyword: ${JSON.stringify(keyword)}`);
  const kw = encodeLatin1(keyword, 'tEXt keyword');
  const body = encodeLatin1(text, 'tEXt text');
  const data = new Uint8Array(kw.length + 1 + body.length); // keyword, NUL separator, text
  data.set(kw, 0);
  data.set(body, kw.length + 1);
  const rest = chunks(removeTextChunks(png, keyword));
  const iend = rest.pop()!; // chunks() guarantees IEND is last
  return concat([png.subarray(0, 8), ...rest.map((c) => c.raw), makeChunk('tEXt', data), iend.raw]);
}
