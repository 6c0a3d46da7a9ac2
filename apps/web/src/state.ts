// The app's state (signals) and what every server message does to it. Views read signals and call actions.
import { batch, computed, signal } from '@preact/signals';
import type { Character, Conversation, Message, ModelSettingsPatch, TtsEngineInfo, Voice } from '@chorus/contracts';
import { Player, type PlaybackReport } from './lib/audio.js';
import { Mic, type MicView } from './lib/mic.js';
import { notice, noticeFor, type Notice } from './lib/notices.js';
import { Connection, type ServerMessage } from './lib/socket.js';

export type View = 'chat' | 'characters' | 'voices' | 'conversations' | 'settings';

export interface Bubble {
  key: string;
  role: 'user' | 'assistant' | 'greeting';
  name: string;
  character_id: string | null;
  text: string;
  streaming?: boolean;
  interrupted?: boolean;
}

/** Per-turn latency as this page sees it: from the user's turn (send, or end of speech) to text and to sound. */
export interface Latency {
  source: 'typed' | 'voice';
  /** Server-measured end of speech → transcript, when the server says. */
  sttMs?: number;
  textMs?: number;
  audioMs?: number;
}

const PALETTE = ['#d97706', '#059669', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#dc2626', '#2563eb'];

export const view = signal<View>('chat');
export const characters = signal<Character[]>([]);
export const voices = signal<Voice[]>([]);
export const engines = signal<TtsEngineInfo[] | null>(null);
export const conversations = signal<Conversation[]>([]);
export const conversationId = signal('');
export const bubbles = signal<Bubble[]>([]);
export const transcript = signal({ stable: '', partial: '', note: '' });
export const speaking = signal<{ message_id: string; character_id: string | null; name: string } | null>(null);
export const notices = signal<Notice[]>([]);
export const latency = signal<Latency | null>(null);
export const micView = signal<MicView>({ on: false, listening: false });
export const micMode = signal<'hands-free' | 'push-to-talk'>((localStorage.getItem('mic_mode') as any) || 'hands-free');
export const muted = signal(false);
export const previewing = signal<string | null>(null);

export const conversation = computed(() => conversations.value.find((c) => c.id === conversationId.value) ?? null);
export const activeCast = computed(() => characters.value.filter((c) => c.active).sort((a, b) => a.order - b.order));

export function colour(characterId: string | null): string {
  if (!characterId) return '#64748b';
  const i = characters.value.findIndex((c) => c.id === characterId);
  if (i >= 0) return PALETTE[i % PALETTE.length];
  let h = 0;
  for (const ch of characterId) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

// ----- plumbing -----

export const conn = new Connection(
  { message: onMessage, binary: (f) => player.frame(f), open: onOpen, close: () => player.endAll() },
  () => {
    // This tab's conversation first: localStorage is shared by every tab and only seeds a fresh page.
    const id = conversationId.value || localStorage.getItem('conversation_id');
    if (!id) return {};
    // Audio queued before the socket dropped plays on; the server goes on from where it stops.
    const got = conversationId.value ? player.received() : null;
    return { conversation_id: id, ...got };
  },
);
export const player = new Player(onPlayback, (text) => addNotice(notice('error', 'Audio error', text, 'Reload the page, or use a current Chrome, Edge, Firefox or Safari.')));
export const mic = new Mic(
  player,
  conn,
  (v) => (micView.value = v),
  (text) => (transcript.value = { stable: '', partial: '', note: text }),
);
(window as any).chorusAudio = { get context() { return player.ctx; }, stats: player.stats };
(window as any).chorusMic = { stats: mic.stats, start: () => mic.start(), stop: () => mic.stop() };
// Drops the socket as a network would (it reconnects by itself): for tests and for trying the resume by hand.
(window as any).chorusSocket = { drop: () => conn.ws?.close() };

/** Replies seen streaming in the open conversation (kept when its history is reloaded). */
const live = new Set<string>();
/** message_id whose text is still arriving (the interrupt target when nothing plays). */
let textStreaming: string | null = null;
/** After an interrupt, until the next turn starts, new messages of the cut turn are dropped too. */
let turnCancelled = false;
let playing: { id: string; ms: number } | null = null;
/**
 * The page's last turn: when it started and, once its `turn_started` came, its replies. A turn that was
 * already answering when this one was sent had announced itself before, so its replies are not counted.
 */
let turnStart: { at: number; source: Latency['source']; request?: string; messages: Set<string> | null } | null = null;
/** Who speaks each message whose audio came (audio_stream_start), the latest 50. */
const speakers = new Map<string, { character_id: string | null; name: string }>();
/** This page's typed messages whose turn has not started: request id → the key of the bubble that shows it. */
const sentBubbles = new Map<string, string>();

function onOpen(): void {
  sentBubbles.clear(); // a new socket: replies to the old one's requests will not echo their ids
  mic.announce();
  // session_started follows; the lists are asked for then.
}

export function addNotice(n: Notice): void {
  // The same problem repeated (e.g. every sentence's voice failing) is one notice, not a pile.
  const rest = notices.value.filter((x) => !(x.title === n.title && x.text === n.text));
  notices.value = [...rest, n].slice(-4);
  if (n.level === 'info') setTimeout(() => dismiss(n.id), 6000); // confirmations go; problems stay until dismissed
}

export function dismiss(id: number): void {
  notices.value = notices.value.filter((n) => n.id !== id);
}

/** Updates a reply's bubble, creating it when its start was missed (e.g. sent to the socket before a reconnect). */
function patchReply(d: { message_id: string; character_id: string; character_name: string }, f: (b: Bubble) => Bubble): void {
  if (!bubbles.value.some((b) => b.key === d.message_id)) {
    live.add(d.message_id);
    bubbles.value = [...bubbles.value, { key: d.message_id, role: 'assistant', name: d.character_name, character_id: d.character_id, text: '', streaming: true }];
  }
  bubbles.value = bubbles.value.map((b) => (b.key === d.message_id ? f(b) : b));
}

function upsert<T extends { id: string }>(list: T[], item: T): T[] {
  return list.some((x) => x.id === item.id) ? list.map((x) => (x.id === item.id ? item : x)) : [...list, item];
}

function showHistory(messages: Message[]): void {
  const shown: Bubble[] = messages.map((m) => ({
    key: m.id, role: m.role, name: m.role === 'user' ? 'You' : m.name, character_id: m.character_id,
    text: m.content, interrupted: m.interrupted,
  }));
  // Replies still streaming stay after the history (finished ones are in it, saved or not yet).
  const stored = new Set(messages.map((m) => m.id));
  shown.push(...bubbles.value.filter((b) => live.has(b.key) && !stored.has(b.key)));
  // An empty conversation opens with the active characters' greetings (Character Card first_mes).
  if (!shown.length) {
    for (const c of activeCast.value) {
      if (c.greeting?.trim()) shown.push({ key: `greeting-${c.id}`, role: 'greeting', name: c.name, character_id: c.id, text: c.greeting });
    }
  }
  bubbles.value = shown;
}

function onMessage(m: ServerMessage): void {
  const d = m.data;
  switch (m.type) {
    case 'session_started':
      batch(() => {
        characters.value = d.characters;
        enterConversation(d.conversation_id);
      });
      conn.send('get_characters');
      conn.send('get_voices');
      conn.send('get_conversations');
      conn.send('get_tts_engines');
      break;
    case 'conversation_started':
      resetAudio();
      enterConversation(d.conversation_id);
      conn.send('get_conversations');
      break;
    case 'history_cleared':
      bubbles.value = [];
      break;
    case 'messages_data':
      if (d.conversation_id === conversationId.value) showHistory(d.messages);
      break;
    case 'characters_data':
      characters.value = d;
      break;
    case 'character_created':
    case 'character_updated':
      characters.value = upsert(characters.value, d);
      break;
    case 'character_deleted':
      characters.value = characters.value.filter((c) => c.id !== d.id);
      break;
    case 'voices_data':
      voices.value = d;
      break;
    case 'voice_created':
    case 'voice_updated':
      voices.value = upsert(voices.value, d);
      break;
    case 'voice_deleted':
      voices.value = voices.value.filter((v) => v.id !== d.id);
      conn.send('get_characters'); // characters of a deleted voice lost it
      break;
    case 'tts_engines_data':
      engines.value = d;
      break;
    case 'conversations_data':
      conversations.value = d;
      break;
    case 'conversation_deleted':
      conversations.value = conversations.value.filter((c) => c.id !== d.conversation_id);
      // Deleted elsewhere (this page's own request echoes its id): say why the chat empties.
      if (!m.id && d.conversation_id === conversationId.value) {
        addNotice(notice('info', 'Conversation deleted', 'The conversation shown here was deleted (in another tab or window); a new one has started.'));
      }
      break;
    case 'settings_updated':
      conversations.value = conversations.value.map((c) => (c.id === d.conversation_id ? { ...c, model_settings: d.model_settings } : c));
      break;
    case 'stt_update':
      transcript.value = { ...transcript.value, partial: d.text, note: '' };
      break;
    case 'stt_stabilized':
      transcript.value = { ...transcript.value, stable: d.text, note: '' };
      break;
    case 'stt_finished':
      transcript.value = { stable: '', partial: '', note: '' };
      if (d.text?.trim()) {
        newTurn('voice', typeof d.speech_end_ms === 'number' ? d.speech_end_ms : undefined);
        showUserMessage(`u${Date.now()}`, d.text);
      }
      break;
    case 'interrupt_ack':
      // The server already cut the turn (the user's speech, or Stop in another tab): nothing to send back.
      if (d?.reason === 'barge_in' || d?.reason === 'elsewhere') stopSpeech();
      break;
    case 'turn_started':
      onTurnStarted(d, m.id);
      break;
    case 'turn_finished':
      if (m.id) sentBubbles.delete(m.id); // refused turns finish without starting
      break;
    case 'text_stream_start':
      if (turnCancelled) player.cancel(d.message_id);
      textStreaming = d.message_id;
      // The message from its start: a socket that (re)joins mid-turn is sent the reply so far again.
      patchReply(d, (b) => ({ ...b, text: '', streaming: true }));
      break;
    case 'text_chunk':
      if (turnStart && latency.value && latency.value.textMs === undefined && turnStart.messages?.has(d.message_id)) {
        latency.value = { ...latency.value, textMs: Math.round(performance.now() - turnStart.at) };
      }
      patchReply(d, (b) => ({ ...b, text: b.text + d.text }));
      break;
    case 'text_stream_stop':
      if (textStreaming === d.message_id) textStreaming = null;
      if (!d.text) bubbles.value = bubbles.value.filter((b) => b.key !== d.message_id); // failed before any text: a notice says why
      else patchReply(d, (b) => ({ ...b, text: d.text, streaming: false, interrupted: !!d.interrupted || b.interrupted }));
      break;
    case 'voice_preview':
      previewing.value = d.message_id;
      break;
    case 'audio_stream_start':
      if (d.character_id === 'preview') {
        player.start(d, 'preview'); // previewVoice() already silenced the previous one
        break;
      }
      if (turnCancelled) player.cancel(d.message_id);
      speakers.set(d.message_id, { character_id: d.character_id, name: d.character_name });
      if (speakers.size > 50) speakers.delete(speakers.keys().next().value!);
      player.start(d);
      break;
    case 'audio_chunk':
      player.chunk(d.message_id);
      break;
    case 'audio_stream_stop':
      player.stop(d.message_id);
      break;
    case 'error':
      if (d.code === 'stt_unavailable') {
        mic.stop();
        transcript.value = { stable: '', partial: '', note: `Microphone off — ${d.message}` };
        break;
      }
      // One utterance was lost; the mic stays on (and the notice below says it too).
      if (d.code === 'stt_failed') transcript.value = { stable: '', partial: '', note: d.message };
      // A refused mic frame (e.g. sent before stt_unavailable came back) goes to the mic line, not a notice per frame.
      if (d.code === 'invalid_audio' && mic.isOn) {
        transcript.value = { ...transcript.value, note: d.message };
        break;
      }
      if (d.code === 'not_found') refreshLists();
      addNotice(noticeFor(d.code, d.message));
      break;
    case 'db_error':
      addNotice(notice('error', 'The database refused it', d.error, 'Check the values and try again.'));
      break;
  }
}

function onTurnStarted(d: { responders: Array<{ message_id: string }>; user?: { message_id: string; text: string; source: string } }, id?: string): void {
  // A turn that starts now was not cut by an earlier Stop (one sent while the cut turn ran is still answered).
  turnCancelled = false;
  // Echoed id: the turn of a message this page sent (a voice turn has none: it is the page's latest turn).
  const mine = id !== undefined && sentBubbles.has(id);
  if (turnStart && !turnStart.messages && (turnStart.request === undefined || turnStart.request === id)) {
    turnStart.messages = new Set(d.responders.map((r) => r.message_id));
  }
  const user = d.user;
  if (mine) {
    // Keyed by its stored id from now on, like the conversation's history.
    const key = sentBubbles.get(id!);
    sentBubbles.delete(id!);
    if (user) bubbles.value = bubbles.value.map((b) => (b.key === key ? { ...b, key: user.message_id } : b));
  } else if (user?.source === 'text' && !bubbles.value.some((b) => b.key === user.message_id)) {
    // Typed in another tab (spoken turns show everywhere by stt_finished).
    showUserMessage(user.message_id, user.text);
  }
}

/** A user message at the end of the conversation (the greetings shown before it stay: they are stored with it). */
function showUserMessage(key: string, text: string): void {
  bubbles.value = [...bubbles.value, { key, role: 'user', name: 'You', character_id: null, text }];
}

function refreshLists(): void {
  for (const t of ['get_characters', 'get_voices', 'get_conversations']) conn.send(t);
}

function enterConversation(id: string): void {
  if (id !== conversationId.value) {
    live.clear();
    sentBubbles.clear();
    bubbles.value = [];
    textStreaming = null;
    turnStart = null;
    turnCancelled = false;
    latency.value = null;
    transcript.value = { stable: '', partial: '', note: '' };
  }
  conversationId.value = id;
  localStorage.setItem('conversation_id', id);
  conn.send('get_messages', { conversation_id: id });
}

function onPlayback(r: PlaybackReport): void {
  if (r.channel === 'preview') {
    if (r.id === null || r.type === 'done') previewing.value = null;
    return;
  }
  if (r.id === null) {
    playing = null;
    speaking.value = null;
    return;
  }
  if (r.type === 'done') {
    playing = null;
    speaking.value = null;
    return;
  }
  playing = { id: r.id, ms: r.ms };
  if (turnStart && latency.value && latency.value.audioMs === undefined && turnStart.messages?.has(r.id)) {
    latency.value = { ...latency.value, audioMs: Math.round(performance.now() - turnStart.at) };
  }
  if (speaking.value?.message_id !== r.id) {
    // Its audio_stream_start says who speaks (its bubble may not exist yet: a reply joined mid-turn).
    const who = speakers.get(r.id) ?? bubbles.value.find((x) => x.key === r.id);
    speaking.value = { message_id: r.id, character_id: who?.character_id ?? null, name: who?.name ?? 'Someone' };
  }
}

function newTurn(source: Latency['source'], sttMs?: number, request?: string): void {
  turnCancelled = false;
  // The clock starts at the end of speech when the server says how long ago that was.
  turnStart = { at: performance.now() - (sttMs ?? 0), source, request, messages: null };
  latency.value = { source, sttMs };
}

function resetAudio(): void {
  player.flush();
  playing = null;
  speaking.value = null;
  previewing.value = null;
}

/** The local half of an interrupt (also a server barge-in): silence now and drop the rest of the turn. */
function stopSpeech(): void {
  const cut = new Set([...player.arriving(), textStreaming, playing?.id].filter((x): x is string => !!x));
  for (const id of cut) player.cancel(id);
  bubbles.value = bubbles.value.map((b) => (cut.has(b.key) ? { ...b, interrupted: true } : b));
  turnCancelled = true;
  resetAudio();
}

// ----- actions -----

export function connect(): void {
  conn.connect();
}

export function sendText(text: string): boolean {
  player.ensure();
  const id = conn.nextId();
  if (!conn.send('user_message', { text }, id)) {
    addNotice(notice('warning', 'Not sent', 'The connection is down; it reconnects by itself. Send again once it says connected.'));
    return false;
  }
  newTurn('typed', undefined, id);
  const key = `u${Date.now()}-${id}`;
  sentBubbles.set(id, key);
  showUserMessage(key, text);
  return true;
}

/** Whether Stop/Esc has anything of a turn to cut. */
export function busy(): boolean {
  return !!playing || !!textStreaming || player.arriving().length > 0;
}

export function stopPreview(): void {
  player.flush('preview');
  previewing.value = null;
}

/** Stop speech now and tell the server how much of the playing message was heard. */
export function interrupt(): void {
  const data: { message_id?: string; audio_end_ms?: number } = {};
  if (playing && !player.isCancelled(playing.id)) Object.assign(data, { message_id: playing.id, audio_end_ms: Math.round(playing.ms) });
  else if (textStreaming) data.message_id = textStreaming;
  stopSpeech();
  conn.send('interrupt', data);
}

export function setMuted(on: boolean): void {
  muted.value = on;
  player.setMuted(on);
}

export function setMicMode(mode: 'hands-free' | 'push-to-talk'): void {
  micMode.value = mode;
  localStorage.setItem('mic_mode', mode);
  if (mic.isOn) mic.stop();
}

export function toggleMic(): void {
  if (mic.isOn) mic.stop();
  else {
    transcript.value = { stable: '', partial: '', note: '' };
    void mic.start();
  }
}

export function newConversation(): void {
  turnCancelled = false;
  conn.send('new_conversation', {});
}

export function openConversation(id: string): void {
  view.value = 'chat';
  if (id === conversationId.value) return; // already open: reopening would cut what is playing
  conn.send('open_conversation', { conversation_id: id });
}

export function clearHistory(): void {
  conn.send('clear_history');
}

export function saveSettings(settings: ModelSettingsPatch): Promise<ServerMessage> {
  return conn.request('model_settings', settings);
}

/** Speaks a line in a voice (stored, or unsaved engine + params) on this page only. */
export function previewVoice(target: { voice_id: string } | { voice: { name?: string; engine: string; params?: Record<string, unknown> } }, text?: string): Promise<ServerMessage> {
  player.ensure();
  stopPreview();
  return conn.request('preview_voice', text ? { ...target, text } : target);
}
