import { describe, it, expect } from 'vitest';
import { crc32 as zlibCrc32, deflateSync } from 'node:zlib';
import { crc32, isPng, readTextChunks, removeTextChunks, withTextChunk } from '../src/lib/png.js';
import {
  CardError,
  cardFileName,
  cardToCharacter,
  cardToJson,
  cardToPng,
  characterToCard,
  parseCard,
  type CardV2,
  type VoiceLike,
} from '../src/lib/cards.js';

// ---- independent PNG helpers (node:zlib for CRC and deflate, so png.ts is checked against another implementation) ----

const SIG = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(zlibCrc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const text = (keyword: string, value: string) => chunk('tEXt', Buffer.from(`${keyword}\0${value}`, 'latin1'));

/** A valid 1×1 RGBA PNG, with `extra` chunks between IDAT and IEND. */
function tinyPng(...extra: Uint8Array[]): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  const idat = deflateSync(Buffer.from([0, 255, 0, 0, 255])); // filter byte + one red pixel
  return new Uint8Array(Buffer.concat([SIG, chunk('IHDR', ihdr), chunk('IDAT', idat), ...extra, chunk('IEND', new Uint8Array())]));
}

/** Walks the chunks, asserting every CRC with zlib's crc32. */
function walk(png: Uint8Array): { type: string; data: Buffer }[] {
  const b = Buffer.from(png);
  expect(b.subarray(0, 8).equals(Buffer.from(SIG))).toBe(true);
  const out: { type: string; data: Buffer }[] = [];
  for (let pos = 8; pos < b.length; ) {
    const len = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    expect(b.readUInt32BE(pos + 8 + len), `CRC of ${type}`).toBe(zlibCrc32(b.subarray(pos + 4, pos + 8 + len)));
    out.push({ type, data: b.subarray(pos + 8, pos + 8 + len) });
    pos += 12 + len;
  }
  return out;
}

const b64 = (obj: unknown) => Buffer.from(JSON.stringify(obj), 'utf8').toString('base64');

function v2(data: Partial<CardV2['data']> & { name: string }): Record<string, unknown> {
  return { spec: 'chara_card_v2', spec_version: '2.0', data };
}

const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
};

// ---- png.ts ----

describe('png', () => {
  it('computes the standard CRC-32', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32(bytes)).toBe(0xcbf43926);
    expect(crc32(tinyPng())).toBe(zlibCrc32(tinyPng()));
  });

  it('reads tEXt chunks as Latin-1, first one winning', () => {
    const png = tinyPng(text('Comment', 'caf\xe9'), text('chara', 'AAAA'), text('chara', 'BBBB'));
    expect(isPng(png)).toBe(true);
    const chunks = readTextChunks(png);
    expect(chunks.get('Comment')).toBe('café');
    expect(chunks.get('chara')).toBe('AAAA');
    expect(chunks.size).toBe(2);
  });

  it('inserts a tEXt chunk right before IEND with a valid CRC, replacing that keyword only', () => {
    const png = tinyPng(text('chara', 'old1'), text('Comment', 'keep'), text('chara', 'old2'));
    const out = withTextChunk(png, 'chara', 'new');
    const types = walk(out).map((c) => c.type);
    expect(types).toEqual(['IHDR', 'IDAT', 'tEXt', 'tEXt', 'IEND']);
    const chunks = walk(out);
    expect(chunks[2].data.toString('latin1')).toBe('Comment\0keep');
    expect(chunks[3].data.toString('latin1')).toBe('chara\0new');
    expect(readTextChunks(out).get('chara')).toBe('new');
    // Image chunks are copied byte for byte.
    expect(chunks[1].data.equals(walk(png)[1].data)).toBe(true);
    expect(walk(removeTextChunks(out, 'chara', 'Comment')).map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  });

  it('rejects non-Latin-1 text and bad keywords', () => {
    expect(() => withTextChunk(tinyPng(), 'chara', 'Zoë 🌸')).toThrow(/Latin-1/);
    expect(() => withTextChunk(tinyPng(), '', 'x')).toThrow(/keyword/);
  });

  it('fails clearly on broken files, without looping', () => {
    const png = tinyPng(text('chara', 'AAAA'));
    expect(isPng(new TextEncoder().encode('GIF89a...'))).toBe(false);
    expect(() => readTextChunks(new TextEncoder().encode('not a png at all'))).toThrow(/Not a PNG/);
    expect(() => readTextChunks(png.subarray(0, png.length - 6))).toThrow(/Truncated/);
    expect(() => readTextChunks(png.subarray(0, png.length - 12))).toThrow(/no IEND/);
    const huge = png.slice();
    new DataView(huge.buffer).setUint32(8, 0xfffffff0); // IHDR claims ~4 GiB
    expect(() => readTextChunks(huge)).toThrow(/runs past the end/);
    const zero = png.slice();
    zero.fill(0, 12, 16); // chunk type of NULs
    expect(() => readTextChunks(zero)).toThrow(/invalid chunk type/);
    expect(() => withTextChunk(png.subarray(0, 20), 'chara', 'x')).toThrow(/Truncated/);
  });
});

// ---- cards.ts ----

const seraphina = v2({
  name: 'Seraphina',
  description: '{{char}} is a guardian of the forest who protects {{USER}}.',
  personality: 'kind, {{Char}}-like, protective',
  scenario: '',
  system_prompt: '{{original}}\nStay in character as {{char}}.',
  first_mes: '*smiles* Welcome, {{user}}. I am {{char}}.',
  mes_example: '<START>\n{{user}}: hi\n{{char}}: hello',
  creator_notes: 'notes',
  post_history_instructions: 'be brief',
  alternate_greetings: ['Hi there'],
  tags: ['fantasy'],
  creator: 'someone',
  character_version: '1.2',
  extensions: { depth_prompt: { prompt: 'x', depth: 4 }, chorus: { stage_directions: 'skip' } },
});

describe('parseCard and cardToCharacter', () => {
  it('maps a V2 JSON card: persona composition, placeholders, greeting, extensions kept', () => {
    const card = parseCard(JSON.stringify(seraphina));
    expect(card.spec).toBe('chara_card_v2');
    const ch = cardToCharacter(card);
    expect(ch.name).toBe('Seraphina');
    expect(ch.system_prompt).toBe(
      'Stay in character as Seraphina.\n\n' +
        'Seraphina is a guardian of the forest who protects the user.\n\n' +
        'Personality: kind, Seraphina-like, protective',
    ); // empty scenario skipped, no "Scenario:" line
    expect(ch.greeting).toBe('*smiles* Welcome, the user. I am Seraphina.');
    expect(ch.voice_id).toBeNull();
    const chorus = ch.extensions.chorus as Record<string, any>;
    expect(ch.extensions.depth_prompt).toEqual({ prompt: 'x', depth: 4 });
    expect(chorus.stage_directions).toBe('skip'); // existing chorus keys survive
    expect(chorus.card_persona).toBe(ch.system_prompt);
    expect(chorus.card.first_mes).toBe('*smiles* Welcome, {{user}}. I am {{char}}.');
    expect(chorus.card.tags).toEqual(['fantasy']);
    expect(chorus.card.alternate_greetings).toEqual(['Hi there']);
    // The card itself is not mutated through the draft.
    expect((card.data.extensions.chorus as Record<string, unknown>).card).toBeUndefined();
  });

  it('converts a V1 card and fills the V2 defaults', () => {
    const card = parseCard(
      JSON.stringify({ name: 'Bob', description: 'A baker.', personality: '', scenario: 'A bakery in {{user}}\'s town.', first_mes: '', mes_example: '' }),
    );
    expect(card).toMatchObject({ spec: 'chara_card_v2', spec_version: '2.0' });
    expect(card.data).toMatchObject({ name: 'Bob', description: 'A baker.', alternate_greetings: [], tags: [], extensions: {}, creator: '' });
    const ch = cardToCharacter(card);
    expect(ch.system_prompt).toBe("A baker.\n\nScenario: A bakery in the user's town.");
    expect(ch.greeting).toBeNull();
  });

  it('reads a PNG card from the chara chunk, falling back to ccv3', () => {
    const name = 'Zoë 🌸';
    const card = parseCard(tinyPng(text('Comment', 'x'), text('chara', b64(v2({ name, description: 'd' })))));
    expect(card.data.name).toBe(name);
    expect(card.data.description).toBe('d');
    const v3 = { spec: 'chara_card_v3', spec_version: '3.0', data: { name: 'Vee', first_mes: 'yo', assets: [] } };
    expect(parseCard(tinyPng(text('ccv3', b64(v3)))).data.first_mes).toBe('yo');
    // chara wins when both exist.
    expect(parseCard(tinyPng(text('ccv3', b64(v3)), text('chara', b64(v2({ name: 'Two' }))))).data.name).toBe('Two');
  });

  it('accepts JSON file bytes (with a BOM) as well as strings', () => {
    const bytes = new TextEncoder().encode('\uFEFF' + JSON.stringify(v2({ name: 'Ünï' })));
    expect(parseCard(bytes).data.name).toBe('Ünï');
  });

  it('throws CardError with clear messages for bad inputs', () => {
    const cases: [string | Uint8Array, RegExp][] = [
      ['{"name": ', /not valid JSON/],
      ['[1, 2]', /Not a character card/],
      ['{"foo": 1}', /Not a character card/],
      ['{"spec": "something_else", "data": {}}', /Unsupported character card spec/],
      [JSON.stringify(v2({ name: '  ', description: 'x' })), /no name/],
      [JSON.stringify({ description: 'x', first_mes: 'hi' }), /no name/],
      [new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), /expected a PNG image or a JSON file/], // a JPEG
      [tinyPng(text('Comment', 'hello')), /no character card/],
      [tinyPng(text('chara', '!!not*base64!!')), /not valid base64/],
      [tinyPng(text('chara', Buffer.from('not json').toString('base64'))), /in this PNG is not valid JSON/],
      [tinyPng(text('chara', Buffer.from([0xc3, 0x28]).toString('base64'))), /not valid UTF-8/],
      [tinyPng(text('chara', 'AAAA')).subarray(0, 40), /Broken PNG file: Truncated/],
    ];
    for (const [input, message] of cases) {
      const e = errorOf(() => parseCard(input));
      expect(e, String(message)).toBeInstanceOf(CardError);
      expect(e.message).toMatch(message);
    }
  });
});

describe('characterToCard and files', () => {
  const unknownExt = { depth_prompt: { prompt: 'x', depth: 4 }, 'some/tool': { a: [1, { b: 2 }] } };

  it('round-trips a PNG card: non-ASCII name, unknown extensions deep-equal, original fields restored', () => {
    const name = 'Zoë Ἀθηνᾶ 🌸 "Δ"';
    const original = v2({
      name,
      description: '{{char}} loves tea.',
      personality: 'calm',
      scenario: 'A café',
      first_mes: 'Hello {{user}}!',
      mes_example: 'ex',
      creator_notes: 'cn',
      system_prompt: 'Be {{char}}.',
      post_history_instructions: 'phi',
      tags: ['a', 'b'],
      creator: 'c',
      character_version: '3',
      alternate_greetings: ['alt'],
      character_book: { extensions: {}, entries: [{ keys: ['tea'], content: 'Tea lore', extensions: {}, enabled: true, insertion_order: 0 }] },
      extensions: structuredClone(unknownExt),
    });
    const draft = cardToCharacter(parseCard(tinyPng(text('chara', b64(original)))));
    expect(draft.greeting).toBe('Hello the user!');

    const png = cardToPng(characterToCard(draft), tinyPng());
    walk(png); // every CRC valid
    const back = parseCard(png);
    expect(back.data.name).toBe(name);
    expect(back.data.extensions).toEqual(unknownExt); // bookkeeping stripped, nothing else touched
    expect(back.data).toEqual((original as { data: unknown }).data); // every field restored, placeholders included
    expect(cardToCharacter(back)).toEqual(draft);
  });

  it('puts an edited persona into description, keeping the non-persona fields', () => {
    const draft = cardToCharacter(parseCard(JSON.stringify(seraphina)));
    const edited = { ...draft, system_prompt: 'You are Seraphina, now a pirate.', greeting: 'Ahoy!' };
    const d = characterToCard(edited).data;
    expect(d).toMatchObject({
      description: 'You are Seraphina, now a pirate.',
      personality: '',
      scenario: '',
      system_prompt: '',
      first_mes: 'Ahoy!',
      mes_example: '<START>\n{{user}}: hi\n{{char}}: hello',
      creator_notes: 'notes',
      post_history_instructions: 'be brief',
      alternate_greetings: ['Hi there'],
      tags: ['fantasy'],
      creator: 'someone',
      character_version: '1.2',
    });
    expect(d.extensions).toEqual({ depth_prompt: { prompt: 'x', depth: 4 }, chorus: { stage_directions: 'skip' } });
    // Unedited: the original persona fields come back instead.
    expect(characterToCard(draft).data).toMatchObject({
      description: '{{char}} is a guardian of the forest who protects {{USER}}.',
      personality: 'kind, {{Char}}-like, protective',
      system_prompt: '{{original}}\nStay in character as {{char}}.',
      first_mes: '*smiles* Welcome, {{user}}. I am {{char}}.',
    });
  });

  it('exports a character that never was a card with every required field', () => {
    const card = characterToCard({ name: ' Ann ', system_prompt: 'You are Ann.', greeting: null, extensions: { chorus: { stage_directions: 'speak' } } });
    expect(card).toEqual({
      spec: 'chara_card_v2',
      spec_version: '2.0',
      data: {
        name: 'Ann', description: 'You are Ann.', personality: '', scenario: '', first_mes: '', mes_example: '', creator_notes: '',
        system_prompt: '', post_history_instructions: '', alternate_greetings: [], tags: [], creator: '', character_version: '',
        extensions: { chorus: { stage_directions: 'speak' } },
      },
    });
    expect(JSON.parse(cardToJson(card))).toEqual(card);
    expect(cardToJson(card)).toContain('\n  "spec": "chara_card_v2"');
  });

  it('writes the voice under extensions.chorus.voice and matches it back by id, then by engine+params', () => {
    const voice: VoiceLike = { id: 'v-rms', name: 'Deep', engine: 'flite', params: { voice: 'rms', duration_stretch: 1.1 } };
    const draft = cardToCharacter(parseCard(JSON.stringify(v2({ name: 'Al', extensions: structuredClone(unknownExt) }))));
    const card = characterToCard(draft, voice);
    expect(card.data.extensions).toEqual({ ...unknownExt, chorus: { voice } });

    const other: VoiceLike = { id: 'v-other', name: 'Other', engine: 'flite', params: { voice: 'slt' } };
    const same = { ...voice, params: { duration_stretch: 1.1, voice: 'rms' } }; // key order differs
    const reimport = (voices: VoiceLike[]) => cardToCharacter(parseCard(cardToPng(card, tinyPng())), voices);
    expect(reimport([other, voice]).voice_id).toBe('v-rms');
    expect(reimport([other, { ...same, id: 'local-7', name: 'Mine' }]).voice_id).toBe('local-7');
    expect(reimport([{ ...voice, engine: 'onnx' }]).voice_id).toBeNull(); // same id, different engine: no match
    const unmatched = reimport([other, { ...same, id: 'x', params: { voice: 'rms' } }]);
    expect(unmatched.voice_id).toBeNull();
    expect((unmatched.extensions.chorus as Record<string, unknown>).voice).toEqual(voice); // kept for "create this voice"

    // null removes a stored voice; undefined keeps it.
    expect(characterToCard(unmatched, null).data.extensions).toEqual(unknownExt);
    expect((characterToCard(unmatched).data.extensions.chorus as Record<string, unknown>).voice).toEqual(voice);
  });

  it('replaces an existing chara chunk (and a stale ccv3) instead of adding one', () => {
    const old = tinyPng(text('chara', b64(v2({ name: 'Old' }))), text('ccv3', b64(v2({ name: 'Older' }))), text('Title', 't'));
    const out = cardToPng(characterToCard({ name: 'New', system_prompt: 'p' }), old);
    const textChunks = walk(out).filter((c) => c.type === 'tEXt').map((c) => c.data.toString('latin1').split('\0')[0]);
    expect(textChunks).toEqual(['Title', 'chara']);
    expect(parseCard(out).data.name).toBe('New');
    expect(() => cardToPng(characterToCard({ name: 'X', system_prompt: '' }), new Uint8Array([1, 2, 3]))).toThrow(CardError);
  });

  it('makes safe file names', () => {
    const named = (name: string) => characterToCard({ name, system_prompt: '' });
    expect(cardFileName(named('Zoë 🌸'), 'png')).toBe('Zoë 🌸.png');
    expect(cardFileName(named('a/b\\c:d*?"<>|e'), '.json')).toBe('a b c d e.json');
    expect(cardFileName(named('..'), 'png')).toBe('character.png');
    expect(cardFileName(named('con'), 'png')).toBe('_con.png');
    expect(Array.from(cardFileName(named('🌸'.repeat(100)), 'png'))).toHaveLength(84);
  });
});
