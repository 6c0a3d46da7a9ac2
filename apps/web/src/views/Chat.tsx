// The conversation: cast, bubbles streaming in, who is speaking, live transcript, input row.
import { LIMITS } from '@chorus/contracts/limits';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  activeCast, bubbles, clearHistory, colour, conversation, interrupt, latency, micMode, micView, mic,
  muted, newConversation, sendText, setMuted, speaking, toggleMic, transcript, view,
} from '../state.js';
import { Avatar } from './common.js';

export function Chat() {
  const log = useRef<HTMLElement>(null);
  const [text, setText] = useState('');
  const speakingNow = speaking.value;
  const stick = useRef(true);
  // Follow new text only while the reader is at the bottom; scrolled up, they are reading.
  useEffect(() => {
    const el = log.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [bubbles.value, view.value]);

  const submit = (ev: Event) => {
    ev.preventDefault();
    const t = text.trim();
    if (t && sendText(t)) setText('');
  };

  return (
    <section class="chat" aria-label="Conversation">
      <div class="chat-bar">
        <div id="cast" class="cast" aria-label="Characters in this conversation">
          {activeCast.value.map((c) => (
            <span key={c.id} class={`chip${speakingNow?.character_id === c.id ? ' speaking' : ''}`} style={{ '--c': colour(c.id) }}>
              <Avatar id={c.id} name={c.name} image={c.image_url} size={22} /> {c.name}
            </span>
          ))}
          {!activeCast.value.length && <span class="muted">No active characters — add one under Characters.</span>}
        </div>
        <div class="chat-actions">
          <span class="title" title="Conversation">{conversation.value?.title ?? ''}</span>
          <button id="new" type="button" onClick={newConversation} title="Start a new conversation">New</button>
          <button id="clear" type="button" onClick={() => confirm('Start over with an empty history? The old conversation stays in the list.') && clearHistory()} title="Clear the history">Clear</button>
        </div>
      </div>
      <main
        id="log"
        ref={log}
        role="log"
        aria-label="Messages"
        onScroll={(e) => {
          const el = e.currentTarget as HTMLElement;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {bubbles.value.map((b) => (
          <div
            key={b.key}
            data-message-id={b.key}
            class={`msg ${b.role}${b.streaming ? ' streaming' : ''}${b.interrupted ? ' interrupted' : ''}${speakingNow?.message_id === b.key ? ' speaking' : ''}`}
            style={{ '--c': colour(b.character_id) }}
          >
            {b.role !== 'user' && <Avatar id={b.character_id} name={b.name} size={28} />}
            <div class="body">
              <span class="who" style={b.role === 'user' ? undefined : { color: colour(b.character_id) }}>
                {b.name}
                {b.role === 'greeting' && <em class="muted"> · greeting</em>}
              </span>
              <span class="text">{b.text}</span>
            </div>
          </div>
        ))}
        {!bubbles.value.length && <p class="empty muted">Say hello — type below or turn on the mic. Use @Name to address one character.</p>}
      </main>
      <div id="speaking" role="status" style={{ '--c': colour(speakingNow?.character_id ?? null) }}>
        {speakingNow && (
          <>
            <span class="dot" />
            {speakingNow.name} is speaking…
          </>
        )}
      </div>
      <Transcript />
      <LatencyLine />
      <form id="form" onSubmit={submit}>
        <input
          id="text"
          autocomplete="off"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
          placeholder="Type a message — @Name to address a character"
          aria-label="Message"
          maxLength={LIMITS.userText}
        />
        <button type="submit" class="primary" disabled={!text.trim()}>Send</button>
        <button type="button" id="interrupt" onClick={interrupt} title="Stop the characters (Esc)">Stop</button>
        <button type="button" id="mute" aria-pressed={muted.value} onClick={() => setMuted(!muted.value)} title="Mute the characters' voices">
          {muted.value ? 'Unmute' : 'Mute'}
        </button>
        <MicButton />
      </form>
    </section>
  );
}

function MicButton() {
  const v = micView.value;
  const ptt = micMode.value === 'push-to-talk';
  const label = !v.on ? (ptt ? 'Hold to talk' : 'Mic') : v.listening ? '● Listening' : 'Mic…';
  const down = (ev: Event) => {
    if (!ptt) return;
    ev.preventDefault();
    // Keep the pointer while held, so a finger drifting off the button does not cut the sentence.
    if (ev instanceof PointerEvent) (ev.currentTarget as HTMLElement).setPointerCapture?.(ev.pointerId);
    if (!mic.isOn) void mic.start();
  };
  const up = () => ptt && mic.isOn && mic.stop();
  return (
    <button
      type="button"
      id="mic"
      aria-pressed={v.on}
      title={ptt ? 'Hold to talk (or hold Space)' : 'Talk to the characters through the microphone'}
      onClick={() => !ptt && toggleMic()}
      onPointerDown={down}
      onPointerUp={up}
      onPointerCancel={up}
      onContextMenu={(e) => ptt && e.preventDefault()}
      class={ptt ? 'hold' : undefined}
      onKeyDown={(e) => (e.key === ' ' || e.key === 'Enter') && ptt && !e.repeat && down(e)}
      onKeyUp={(e) => (e.key === ' ' || e.key === 'Enter') && up()}
    >
      {label}
    </button>
  );
}

/** The live line: the stable prefix in plain text, the still-changing rest in grey italics; or a note. */
function Transcript() {
  const { stable, partial, note } = transcript.value;
  if (note) return <div id="transcript" class="note" role="status" aria-live="polite">{note}</div>;
  const full = stable.startsWith(partial) ? stable : partial; // the stable text may be ahead of the last update
  let n = 0;
  while (n < stable.length && stable[n] === full[n]) n++;
  return (
    <div id="transcript" role="status" aria-live="polite">
      {full.slice(0, n)}
      <i>{full.slice(n)}</i>
    </div>
  );
}

function LatencyLine() {
  const l = latency.value;
  if (!l) return <div id="latency" class="latency" />;
  const parts = ([['transcript', l.sttMs], ['text', l.textMs], ['voice', l.audioMs]] as const)
    .filter(([, ms]) => ms !== undefined)
    .map(([label, ms]) => `${label} ${ms} ms`);
  return (
    <div id="latency" class="latency" title={l.source === 'voice' ? 'From the end of your speech' : 'From sending your message'}>
      {l.source === 'voice' ? 'speech end' : 'sent'} → {parts.join(' · ')}
    </div>
  );
}
