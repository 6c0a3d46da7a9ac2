// Model settings of the open conversation, and how the microphone works.
import type { ModelSettings, ModelSettingsPatch } from '@chorus/contracts';
import { useEffect, useRef, useState } from 'preact/hooks';
import { notice } from '../lib/notices.js';
import { addNotice, conversation, conversationId, micMode, saveSettings, setMicMode } from '../state.js';
import { errorText, Field } from './common.js';

type Key = Exclude<keyof ModelSettings, 'model'>;
const NUMBERS: { key: Key; min: number; max: number; step: number; hint: string }[] = [
  { key: 'temperature', min: 0, max: 2, step: 0.05, hint: 'Randomness; 0 is the most predictable.' },
  { key: 'top_p', min: 0, max: 1, step: 0.01, hint: 'Nucleus sampling: keep the most likely tokens up to this probability mass.' },
  { key: 'min_p', min: 0, max: 1, step: 0.01, hint: 'Drop tokens below this share of the top token’s probability (not every endpoint).' },
  { key: 'top_k', min: 0, max: 1000, step: 1, hint: 'Keep only the k most likely tokens (not every endpoint).' },
  { key: 'frequency_penalty', min: -2, max: 2, step: 0.05, hint: 'Discourage repeating the same words.' },
  { key: 'presence_penalty', min: -2, max: 2, step: 0.05, hint: 'Encourage new topics.' },
  { key: 'repetition_penalty', min: 0.01, max: 2, step: 0.01, hint: 'Multiplicative repetition penalty (OpenRouter, vLLM, llama.cpp).' },
];

const toForm = (settings: ModelSettings) => Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)]));

export function Settings() {
  const current = conversation.value?.model_settings ?? {};
  const conversationKey = conversationId.value; // known at once; the listing with its settings may come later
  const [form, setForm] = useState<Record<string, string>>(() => toForm(current));
  const [saved, setSaved] = useState(false);
  // Refs, not state: effects run after paint and must see an edit typed in before they ran.
  const dirty = useRef(false);
  const synced = useRef({ conversation: conversationKey, settings: JSON.stringify(current) });
  // New values from the server fill the form, unless the user is editing it; another conversation always does.
  useEffect(() => {
    const settings = JSON.stringify(current);
    const last = synced.current;
    if (last.conversation === conversationKey && last.settings === settings) return;
    synced.current = { conversation: conversationKey, settings };
    if (last.conversation !== conversationKey) {
      dirty.current = false;
      setSaved(false);
    }
    if (!dirty.current) setForm(toForm(current));
  });
  const edit = (key: string, value: string) => {
    setForm((f) => ({ ...f, [key]: value }));
    dirty.current = true;
    setSaved(false);
  };

  const submit = async (ev: Event) => {
    ev.preventDefault();
    // An emptied field that was saved before is sent as null: back to the endpoint's default.
    const settings: Record<string, unknown> = {};
    for (const key of ['model', ...NUMBERS.map((n) => n.key)]) {
      const v = form[key]?.trim() ?? '';
      if (v) settings[key] = key === 'model' ? v : Number(v);
      else if (key in current) settings[key] = null;
    }
    try {
      await saveSettings(settings as ModelSettingsPatch);
      dirty.current = false;
      setSaved(true);
    } catch (err) {
      addNotice(notice('error', 'Settings not saved', errorText(err)));
    }
  };

  return (
    <section class="page" aria-labelledby="settings-h">
      <h2 id="settings-h">Settings</h2>
      <form class="editor" id="model-settings" onSubmit={submit}>
        <h3>Model for “{conversation.value?.title || 'this conversation'}”</h3>
        <p class="muted small">Applies to the next turns of this conversation. Empty fields use the endpoint’s defaults.</p>
        <Field label="Model" hint="e.g. openai/gpt-4o-mini on OpenRouter, llama3.2 on Ollama. Empty: the server’s LLM_MODEL.">
          <input name="model" value={form.model ?? ''} onInput={(e) => edit('model', (e.target as HTMLInputElement).value)} />
        </Field>
        <div class="grid">
          {NUMBERS.map((n) => (
            <Field key={n.key} label={n.key} hint={n.hint}>
              <input
                name={n.key}
                type="number"
                min={n.min}
                max={n.max}
                step={n.step}
                value={form[n.key] ?? ''}
                onInput={(e) => edit(n.key, (e.target as HTMLInputElement).value)}
              />
            </Field>
          ))}
        </div>
        <div class="row">
          <button type="submit" class="primary">Save settings</button>
          {saved && <span role="status" class="ok-text">Saved.</span>}
        </div>
      </form>
      <div class="editor">
        <h3>Microphone</h3>
        <label class="check">
          <input type="radio" name="mic-mode" checked={micMode.value === 'hands-free'} onChange={() => setMicMode('hands-free')} /> Hands-free: the Mic
          button toggles listening; the end of each sentence is detected.
        </label>
        <label class="check">
          <input type="radio" name="mic-mode" checked={micMode.value === 'push-to-talk'} onChange={() => setMicMode('push-to-talk')} /> Push-to-talk: hold the
          Mic button (or Space) while you speak.
        </label>
      </div>
    </section>
  );
}
