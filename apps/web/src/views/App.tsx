// Layout: header (brand, views, connection), notices, the current view.
import { useEffect } from 'preact/hooks';
import { busy, conn, dismiss, interrupt, mic, micMode, notices, player, previewing, stopPreview, view, type View } from '../state.js';
import { Characters } from './Characters.js';
import { Chat } from './Chat.js';
import { Conversations } from './Conversations.js';
import { Settings } from './Settings.js';
import { Voices } from './Voices.js';

const VIEWS: { id: View; label: string }[] = [
  { id: 'chat', label: 'Chat' },
  { id: 'characters', label: 'Characters' },
  { id: 'voices', label: 'Voices' },
  { id: 'conversations', label: 'Conversations' },
  { id: 'settings', label: 'Settings' },
];

const typing = (t: EventTarget | null) =>
  t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON|SUMMARY)$/.test(t.tagName) || t.getAttribute('role') === 'button');

export function App() {
  useEffect(() => {
    const gesture = () => player.ensure();
    const keydown = (ev: KeyboardEvent) => {
      if (ev.key === 'Escape') {
        if (ev.isComposing || ev.repeat) return;
        // Esc is no user activation: it does not start audio. It cuts a turn only when one is playing or arriving.
        if (busy()) {
          ev.preventDefault();
          interrupt();
        } else if (previewing.value) stopPreview();
        return;
      }
      player.ensure();
      if (ev.key === ' ' && micMode.value === 'push-to-talk' && !typing(ev.target) && !ev.repeat) {
        ev.preventDefault();
        void mic.start();
      }
    };
    const keyup = (ev: KeyboardEvent) => {
      if (ev.key === ' ' && micMode.value === 'push-to-talk' && !typing(ev.target) && mic.isOn) mic.stop();
    };
    document.addEventListener('pointerdown', gesture, true);
    document.addEventListener('keydown', keydown, true);
    document.addEventListener('keyup', keyup, true);
    return () => {
      document.removeEventListener('pointerdown', gesture, true);
      document.removeEventListener('keydown', keydown, true);
      document.removeEventListener('keyup', keyup, true);
    };
  }, []);

  const state = conn.state.value;
  return (
    <>
      <header class="top">
        <strong class="brand">Chorus</strong>
        <nav aria-label="Views" class="tabs">
          {VIEWS.map((v) => (
            <button key={v.id} type="button" id={`tab-${v.id}`} aria-current={view.value === v.id ? 'page' : undefined} onClick={() => (view.value = v.id)}>
              {v.label}
            </button>
          ))}
        </nav>
        <span class={`status ${state}`} id="status" role="status" title={state === 'reconnecting' ? `Retrying in ${conn.retryIn.value}s` : undefined}>
          {state === 'connected' ? 'connected' : state === 'connecting' ? 'connecting…' : 'disconnected — reconnecting…'}
        </span>
      </header>
      <div id="notices">
        {notices.value.map((n) => (
          <div key={n.id} class={`notice ${n.level}`} role={n.level === 'info' ? 'status' : 'alert'}>
            <div class="grow">
              <strong>{n.title}</strong> {n.text}
              {n.hint && <div class="hint">{n.hint}</div>}
            </div>
            {n.action && (
              <button type="button" onClick={() => { view.value = n.action!.view as View; dismiss(n.id); }}>
                {n.action.label}
              </button>
            )}
            <button type="button" class="close" aria-label="Dismiss" onClick={() => dismiss(n.id)}>×</button>
          </div>
        ))}
      </div>
      <div class="view">
        {/* The chat stays mounted so a reply keeps streaming while another view is open. */}
        <div hidden={view.value !== 'chat'} class="chat-wrap"><Chat /></div>
        {view.value === 'characters' && <Characters />}
        {view.value === 'voices' && <Voices />}
        {view.value === 'conversations' && <Conversations />}
        {view.value === 'settings' && <Settings />}
      </div>
    </>
  );
}
