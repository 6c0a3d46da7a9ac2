// Characters: list, create, edit, delete, preview the voice, Character Card V2 import and export.
import type { Character, Voice } from '@chorus/contracts';
import { LIMITS } from '@chorus/contracts/limits';
import { useState } from 'preact/hooks';
import { cardFileName, cardToCharacter, cardToJson, cardToPng, characterToCard, parseCard } from '../lib/cards.js';
import { isPng } from '../lib/png.js';
import { notice } from '../lib/notices.js';
import { addNotice, characters, colour, conn, previewVoice, voices } from '../state.js';
import { Avatar, download, errorText, Field } from './common.js';

type Draft = Partial<Character> & { name: string };

const blank = (): Draft => ({
  name: '', system_prompt: '', greeting: '', voice_id: voices.value[0]?.id ?? null, active: true,
  order: Math.max(0, ...characters.value.map((c) => c.order + 1)),
});

/** Cards bigger than this are not character cards (a V2 card is text plus one picture). */
const MAX_CARD_BYTES = 10 * 1024 * 1024;
/** Voice params that point a TTS engine at a server: never taken from a card someone else wrote. */
const NETWORK_PARAMS = ['base_url', 'url', 'endpoint', 'host', 'api_key'];

let editorSeq = 0;

export function Characters() {
  const [editing, setEditingRaw] = useState<(Draft & { key: number }) | null>(null);
  // A fresh editor per item, so its fields never belong to the previously edited one.
  const setEditing = (d: Draft | null) => setEditingRaw(d && { ...d, key: ++editorSeq });
  const [busy, setBusy] = useState(false);
  const list = [...characters.value].sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));

  const importFile = async (ev: Event) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    if (file.size > MAX_CARD_BYTES) {
      addNotice(notice('error', 'Could not import the card', `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; a card is at most 10 MB.`));
      return;
    }
    setBusy(true);
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const card = parseCard(isPng(bytes) ? bytes : new TextDecoder().decode(bytes));
      const draft = cardToCharacter(card, voices.value);
      let voiceId = draft.voice_id;
      const wanted = (draft.extensions.chorus as { voice?: { name?: string; engine?: string; params?: Record<string, unknown> } } | undefined)?.voice;
      if (!voiceId && wanted?.engine) {
        // The card brings a voice this server does not have yet: create it so the character keeps its sound.
        const params = Object.fromEntries(Object.entries(wanted.params ?? {}).filter(([k]) => !NETWORK_PARAMS.includes(k)));
        const r = await conn.request('create_voice', { name: wanted.name || `${draft.name}'s voice`, engine: wanted.engine, params });
        voiceId = r.data.id;
      }
      const r = await conn.request('create_character', {
        name: draft.name, system_prompt: draft.system_prompt, greeting: draft.greeting, extensions: draft.extensions,
        voice_id: voiceId ?? voices.value[0]?.id ?? null, active: true, order: blank().order,
      });
      addNotice(notice('info', 'Card imported', `${r.data.name} was added from ${file.name}.`));
    } catch (err) {
      addNotice(notice('error', 'Could not import the card', errorText(err), 'Use a Character Card V2 (or V1) .json file, or a .png card.'));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="page" aria-labelledby="characters-h">
      <div class="page-head">
        <h2 id="characters-h">Characters</h2>
        <div class="row">
          <button type="button" class="primary" id="new-character" onClick={() => setEditing(blank())}>New character</button>
          <label class="button" aria-disabled={busy}>
            Import card
            <input id="import-card" type="file" accept=".json,.png,application/json,image/png" onChange={importFile} class="visually-hidden" />
          </label>
        </div>
      </div>
      {editing && <Editor key={editing.key} draft={editing} onDone={() => setEditing(null)} />}
      <ul class="cards" id="character-list">
        {list.map((c) => (
          <li key={c.id} class={`card${c.active ? '' : ' inactive'}`} data-character={c.name} style={{ '--c': colour(c.id) }}>
            <Avatar id={c.id} name={c.name} image={c.image_url} size={40} />
            <div class="grow">
              <strong>{c.name}</strong> {!c.active && <span class="badge">inactive</span>}
              <div class="muted small">
                order {c.order} · voice {voices.value.find((v) => v.id === c.voice_id)?.name ?? 'none'}
              </div>
              <p class="clip">{c.system_prompt || <em class="muted">No persona yet.</em>}</p>
            </div>
            <div class="row wrap">
              <button type="button" onClick={() => setEditing({ ...c, greeting: c.greeting ?? '' })}>Edit</button>
              <button type="button" disabled={!c.voice_id} onClick={() => preview({ voice_id: c.voice_id! }, c.greeting || undefined)}>Preview voice</button>
              <button type="button" onClick={() => exportCard(c, 'json')}>Export JSON</button>
              <button type="button" onClick={() => exportCard(c, 'png')}>Export PNG</button>
              <button type="button" class="danger" onClick={() => remove(c)}>Delete</button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Editor({ draft, onDone }: { draft: Draft; onDone: () => void }) {
  const [d, setD] = useState<Draft>(draft);
  const [saving, setSaving] = useState(false);
  const set = (patch: Partial<Draft>) => setD({ ...d, ...patch });
  const save = async (ev: Event) => {
    ev.preventDefault();
    setSaving(true);
    const fields = {
      name: d.name.trim(), system_prompt: d.system_prompt ?? '', greeting: d.greeting?.trim() ? d.greeting : null,
      voice_id: d.voice_id || null, active: d.active ?? true, order: Number(d.order) || 0,
    };
    try {
      await conn.request(d.id ? 'update_character' : 'create_character', d.id ? { id: d.id, ...fields } : fields);
      onDone();
    } catch (err) {
      addNotice(notice('error', 'Could not save the character', errorText(err)));
    } finally {
      setSaving(false);
    }
  };
  return (
    <form class="editor" id="character-editor" onSubmit={save} aria-label={d.id ? `Edit ${draft.name}` : 'New character'}>
      <h3>{d.id ? `Edit ${draft.name}` : 'New character'}</h3>
      <Field label="Name">
        <input name="name" required maxLength={LIMITS.name} value={d.name} onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} />
      </Field>
      <Field label="Persona (system prompt)" hint="Who the character is and how it talks. Changes apply to the next turn.">
        <textarea name="system_prompt" rows={5} maxLength={LIMITS.systemPrompt} value={d.system_prompt ?? ''} onInput={(e) => set({ system_prompt: (e.target as HTMLTextAreaElement).value })} />
      </Field>
      <Field label="Greeting" hint="Shown when a conversation starts empty.">
        <textarea name="greeting" rows={2} maxLength={LIMITS.systemPrompt} value={d.greeting ?? ''} onInput={(e) => set({ greeting: (e.target as HTMLTextAreaElement).value })} />
      </Field>
      <div class="row wrap">
        <Field label="Voice">
          <select name="voice_id" value={d.voice_id ?? ''} onChange={(e) => set({ voice_id: (e.target as HTMLSelectElement).value || null })}>
            <option value="">No voice (text only)</option>
            {voices.value.map((v: Voice) => (
              <option key={v.id} value={v.id}>{v.name} ({v.engine})</option>
            ))}
          </select>
        </Field>
        <Field label="Order">
          <input name="order" type="number" step={1} value={d.order ?? 0} onInput={(e) => set({ order: Number((e.target as HTMLInputElement).value) })} />
        </Field>
        <label class="check">
          <input name="active" type="checkbox" checked={d.active ?? true} onChange={(e) => set({ active: (e.target as HTMLInputElement).checked })} /> Active
        </label>
      </div>
      <div class="row">
        <button type="submit" class="primary" disabled={saving}>{d.id ? 'Save' : 'Create'}</button>
        <button type="button" disabled={!d.voice_id} onClick={() => preview({ voice_id: d.voice_id! }, d.greeting || undefined)}>Preview voice</button>
        <button type="button" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}

function preview(target: { voice_id: string }, text?: string): void {
  previewVoice(target, text?.slice(0, LIMITS.previewText)).catch((err) => addNotice(notice('warning', 'Could not preview the voice', errorText(err))));
}

async function remove(c: Character): Promise<void> {
  if (!confirm(`Delete ${c.name}? Past messages keep their text.`)) return;
  try {
    await conn.request('delete_character', { id: c.id });
  } catch (err) {
    addNotice(notice('error', 'Could not delete the character', errorText(err)));
  }
}

async function exportCard(c: Character, kind: 'json' | 'png'): Promise<void> {
  try {
    const card = characterToCard(c, voices.value.find((v) => v.id === c.voice_id) ?? null);
    if (kind === 'json') return download(cardFileName(card, 'json'), 'application/json', cardToJson(card));
    download(cardFileName(card, 'png'), 'image/png', cardToPng(card, await avatarPng(c)));
  } catch (err) {
    addNotice(notice('error', 'Could not export the card', errorText(err)));
  }
}

/** A PNG card needs a picture: the character's initial on its colour. */
async function avatarPng(c: Character): Promise<Uint8Array> {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 400;
  const g = canvas.getContext('2d')!;
  g.fillStyle = colour(c.id);
  g.fillRect(0, 0, 400, 400);
  g.fillStyle = '#fff';
  g.font = 'bold 220px system-ui, sans-serif';
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.fillText((c.name.trim()[0] ?? '?').toUpperCase(), 200, 215);
  const blob = await new Promise<Blob>((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error('no PNG'))), 'image/png'));
  return new Uint8Array(await blob.arrayBuffer());
}
