// Model settings of the open conversation, and how the microphone works.
import type { ModelSettings, ModelSettingsPatch } from '@chorus/contracts';
import { LIMITS, MODEL_SETTINGS_RANGES, type ModelSettingsNumberKey, type NumberRange } from '@chorus/contracts/limits';
import { useEffect, useRef, useState } from 'preact/hooks';
import { notice } from '../lib/notices.js';
import { addNotice, conversation, conversationId, micMode, saveSettings, setMicMode } from '../state.js';
import { errorText, Field } from './common.js';

// Bounds come from contracts (what the edge accepts); a Record so a new setting there fails to compile here until it has an input.
const INPUTS: Record<ModelSettingsNumberKey, { step: number; hint: string }> = {
  temperature: { step: 0.05, hint: 'Randomness; 0 is the most predictable.' },
  top_p: { step: 0.01, hint: 'Nucleus sampling: keep the most likely tokens up to this probability mass.' },
  min_p: { step: 0.01, hint: 'Drop tokens below this share of the top token’s probability (not every endpoint).' },
  top_k: { step: 1, hint: 'Keep only the k most likely tokens (not every endpoint).' },
  frequency_penalty: { step: 0.05, hint: 'Discourage repeating the same words.' },
  presence_penalty: { step: 0.05, hint: 'Encourage new topics.' },
  repetition_penalty: { step: 0.01, hint: 'Multiplicative repetition penalty (OpenRouter, vLLM, llama.cpp).' },
};
const NUMBERS = (Object.keys(INPUTS) as ModelSettingsNumberKey[]).map((key) => {
  const range: NumberRange = MODEL_SETTINGS_RANGES[key];
  const { step, hint } = INPUTS[key];
  // An input's min is inclusive, so an exclusive bound starts one step above it.
  return { key, min: range.exclusiveMin ? range.min + step : range.min, max: range.max, step, hint };
});

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
      {/* noValidate: `step` sizes the arrows' increments, it must not refuse a typed 0.72; the edge checks the ranges. */}
      <form class="editor" id="model-settings" onSubmit={submit} noValidate>
        <h3>Model for “{conversation.value?.title || 'this conversation'}”</h3>
        <p class="muted small">Applies to the next turns of this conversation. Empty fields use the endpoint’s defaults.</p>
        <Field label="Model" hint="e.g. openai/gpt-4o-mini on OpenRouter, llama3.2 on Ollama. Empty: the server’s LLM_MODEL.">
          <input name="model" maxLength={LIMITS.model} value={form.model ?? ''} onInput={(e) => edit('model', (e.target as HTMLInputElement).value)} />
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
