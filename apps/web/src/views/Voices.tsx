// Voices: every engine's built-in voices, the stored voices, and a form for custom ones (engine + params).
import type { TtsEngineInfo, Voice } from '@chorus/contracts';
import { LIMITS } from '@chorus/contracts/limits';
import { useEffect, useState } from 'preact/hooks';
import { notice } from '../lib/notices.js';
import { addNotice, conn, engines, previewVoice, voices } from '../state.js';
import { errorText, Field } from './common.js';

interface Draft {
  id?: string;
  name: string;
  engine: string;
  params: Record<string, unknown>;
}

let editorSeq = 0;

export function Voices() {
  const [editing, setEditingRaw] = useState<(Draft & { key: number }) | null>(null);
  // A fresh editor per item, so its fields never belong to the previously edited one.
  const setEditing = (d: Draft | null) => setEditingRaw(d && { ...d, key: ++editorSeq });
  useEffect(() => void conn.send('get_tts_engines'), []); // workers may have come up since the page loaded
  const known = engines.value;
  const engineNames = [...new Set([...(known ?? []).map((e) => e.name), ...voices.value.map((v) => v.engine)])];
  return (
    <section class="page" aria-labelledby="voices-h">
      <div class="page-head">
        <h2 id="voices-h">Voices</h2>
        <button type="button" class="primary" id="new-voice" onClick={() => setEditing({ name: '', engine: engineNames[0] ?? 'flite', params: {} })}>
          New voice
        </button>
      </div>
      {editing && <Editor key={editing.key} draft={editing} engineNames={engineNames} onDone={() => setEditing(null)} />}
      <h3>Saved voices</h3>
      <ul class="cards" id="voice-list">
        {voices.value.map((v) => (
          <li key={v.id} class="card" data-voice={v.name}>
            <div class="grow">
              <strong>{v.name}</strong> <span class="badge">{v.engine}</span>
              <div class="muted small mono">{JSON.stringify(v.params)}</div>
            </div>
            <div class="row wrap">
              <button type="button" onClick={() => preview({ voice_id: v.id })}>Preview</button>
              <button type="button" onClick={() => setEditing({ id: v.id, name: v.name, engine: v.engine, params: { ...v.params } })}>Edit</button>
              <button type="button" class="danger" onClick={() => remove(v)}>Delete</button>
            </div>
          </li>
        ))}
      </ul>
      <h3>Engines</h3>
      {known === null && <p class="muted">Asking the TTS workers…</p>}
      {known?.length === 0 && <p class="muted">No TTS worker is running, so no engine can be listed. Start one (npm start does).</p>}
      {known?.map((e) => <Engine key={e.name} e={e} onUse={(d) => setEditing(d)} />)}
    </section>
  );
}

function Engine({ e, onUse }: { e: TtsEngineInfo; onUse: (d: Draft) => void }) {
  const voiceKey = e.params.find((p) => p.key === 'voice')?.key ?? 'voice';
  return (
    <details class="engine" open={e.available && e.voices.length <= 12}>
      <summary>
        <strong>{e.name}</strong> <span class={`badge ${e.available ? 'ok' : 'warn'}`}>{e.available ? `${e.voices.length} voices` : 'unavailable'}</span>
        {e.reason && <span class="muted small"> — {e.reason}</span>}
      </summary>
      <ul class="voices-grid">
        {e.voices.map((v) => (
          <li key={v.id}>
            <span>{v.name}{v.language && <span class="muted small"> · {v.language}</span>}</span>
            <button type="button" class="small" disabled={!e.available} onClick={() => preview({ voice: { name: v.name, engine: e.name, params: { [voiceKey]: v.id } } })}>Preview</button>
            <button type="button" class="small" onClick={() => onUse({ name: v.name, engine: e.name, params: { [voiceKey]: v.id } })}>Save as voice…</button>
          </li>
        ))}
      </ul>
    </details>
  );
}

function Editor({ draft, engineNames, onDone }: { draft: Draft; engineNames: string[]; onDone: () => void }) {
  const [d, setD] = useState(draft);
  const [raw, setRaw] = useState(JSON.stringify(draft.params, null, 2));
  const [rawError, setRawError] = useState('');
  const info = engines.value?.find((e) => e.name === d.engine);
  const setParam = (key: string, value: unknown) => {
    const params = { ...d.params };
    if (value === '' || value === undefined) delete params[key];
    else params[key] = value;
    setD({ ...d, params });
    setRaw(JSON.stringify(params, null, 2));
  };
  const onRaw = (text: string) => {
    setRaw(text);
    try {
      const p = JSON.parse(text || '{}');
      if (!p || typeof p !== 'object' || Array.isArray(p)) throw new Error('params must be a JSON object');
      setD({ ...d, params: p });
      setRawError('');
    } catch (err) {
      setRawError(errorText(err));
    }
  };
  const save = async (ev: Event) => {
    ev.preventDefault();
    if (rawError) return;
    const fields = { name: d.name.trim(), engine: d.engine, params: d.params };
    try {
      await conn.request(d.id ? 'update_voice' : 'create_voice', d.id ? { id: d.id, ...fields } : fields);
      onDone();
    } catch (err) {
      addNotice(notice('error', 'Could not save the voice', errorText(err)));
    }
  };
  return (
    <form class="editor" id="voice-editor" onSubmit={save}>
      <h3>{d.id ? `Edit ${draft.name}` : 'New voice'}</h3>
      <div class="row wrap">
        <Field label="Name">
          <input name="name" required maxLength={LIMITS.name} value={d.name} onInput={(e) => setD({ ...d, name: (e.target as HTMLInputElement).value })} />
        </Field>
        <Field label="Engine">
          <select name="engine" value={d.engine} onChange={(e) => setD({ ...d, engine: (e.target as HTMLSelectElement).value })}>
            {engineNames.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </Field>
      </div>
      {info?.params.map((p) => (
        <Field key={p.key} label={p.key} hint={p.description}>
          {p.key === 'voice' && info.voices.length ? (
            <select name={`param-${p.key}`} value={String(d.params[p.key] ?? '')} onChange={(e) => setParam(p.key, (e.target as HTMLSelectElement).value)}>
              <option value="">(default)</option>
              {info.voices.map((v) => <option key={v.id} value={v.id}>{v.name}</option>)}
            </select>
          ) : p.type === 'enum' ? (
            <select name={`param-${p.key}`} value={String(d.params[p.key] ?? '')} onChange={(e) => setParam(p.key, (e.target as HTMLSelectElement).value)}>
              <option value="">(default)</option>
              {p.options?.map((o) => <option key={o} value={o}>{o}</option>)}
            </select>
          ) : p.type === 'boolean' ? (
            <input type="checkbox" name={`param-${p.key}`} checked={Boolean(d.params[p.key] ?? p.default)} onChange={(e) => setParam(p.key, (e.target as HTMLInputElement).checked)} />
          ) : (
            <input
              name={`param-${p.key}`}
              type={p.type === 'number' ? 'number' : 'text'}
              step="any"
              min={p.min}
              max={p.max}
              placeholder={p.default === undefined ? '' : String(p.default)}
              value={d.params[p.key] === undefined ? '' : String(d.params[p.key])}
              onInput={(e) => {
                const v = (e.target as HTMLInputElement).value;
                setParam(p.key, p.type === 'number' && v !== '' ? Number(v) : v);
              }}
            />
          )}
        </Field>
      ))}
      <Field label="Params (JSON)" hint={rawError || 'Every setting of the engine; the fields above edit the same object.'}>
        <textarea name="params" rows={4} class="mono" value={raw} onInput={(e) => onRaw((e.target as HTMLTextAreaElement).value)} aria-invalid={!!rawError} />
      </Field>
      <div class="row">
        <button type="submit" class="primary" disabled={!!rawError}>{d.id ? 'Save' : 'Create'}</button>
        <button type="button" onClick={() => preview({ voice: { name: d.name || 'Preview', engine: d.engine, params: d.params } })}>Preview</button>
        <button type="button" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}

function preview(target: Parameters<typeof previewVoice>[0]): void {
  previewVoice(target).catch((err) => addNotice(notice('warning', 'Could not preview the voice', errorText(err))));
}

async function remove(v: Voice): Promise<void> {
  if (!confirm(`Delete the voice ${v.name}? Characters using it become text only.`)) return;
  try {
    await conn.request('delete_voice', { id: v.id });
  } catch (err) {
    addNotice(notice('error', 'Could not delete the voice', errorText(err)));
  }
}
