// Speech playback. PCM16 frames -> Float32 at the context's rate (main thread) -> the 'chorus-player'
// worklet queue. The worklet owns the timeline, so it alone says what is audible and for how long.

export interface StreamStart {
  message_id: string;
  character_id: string;
  character_name: string;
  sample_rate?: number;
}

/** Replies play on 'main', one message after another; voice previews on their own node, so they neither
 * interleave with a reply's queued audio nor wait behind it. */
export type Channel = 'main' | 'preview';

export interface PlaybackReport {
  channel: Channel;
  /** Message audible now, or null when nothing plays. */
  id: string | null;
  /** How much of it has played (ms). */
  ms: number;
  /** 'done' when that message finished playing. */
  type: 'progress' | 'done';
}

interface Resampler {
  /** Source rate (Hz). */
  rate: number;
  step: number;
  t: number;
  prev: number;
  channel: Channel;
}

/** What the tests and the latency readout read (window.chorusAudio.stats). */
export interface AudioStats {
  framesReceived: number;
  samplesReceived: number;
  nonSilentSamplesPlayed: number;
  messagesPlayed: number;
  lastPlayed: { message_id: string | null; ms: number };
  playedMs: Record<string, number>;
}

export class Player {
  ctx: AudioContext | null = null;
  /** Resolves once the worklet module is loaded (the mic waits on it too). */
  ready: Promise<void> | null = null;
  private readonly nodes = new Map<Channel, AudioWorkletNode>();
  private gain: GainNode | null = null;
  private pending: [Channel, unknown, Transferable[]][] = [];
  /** Per-channel counters of the worklets, summed into stats. */
  private readonly counts = new Map<Channel, { nonSilent: number; messagesPlayed: number }>();
  private readonly streams = new Map<string, Resampler>();
  private readonly cancelled = new Set<string>();
  private chunkFor: string | null = null;
  /** The reply whose audio arrived last and how much of it (ms): after a reconnect the server sends the rest. */
  private got: { id: string; ms: number } | null = null;
  private muted = false;
  failed = false;
  readonly stats: AudioStats = {
    framesReceived: 0, samplesReceived: 0, nonSilentSamplesPlayed: 0, messagesPlayed: 0,
    lastPlayed: { message_id: null, ms: 0 }, playedMs: {},
  };

  constructor(
    private readonly onReport: (r: PlaybackReport) => void,
    private readonly onError: (text: string) => void,
  ) {}

  /** Browsers only let audio start from a user gesture, so the context is created (or resumed) on one. */
  ensure(): void {
    if (this.ctx) {
      if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
      return;
    }
    if (this.failed) return;
    const AC = window.AudioContext ?? (window as any).webkitAudioContext;
    if (!AC) return this.fail('This browser cannot play audio.');
    const ctx = (this.ctx = new AC() as AudioContext);
    if (!ctx.audioWorklet) return this.fail('Audio playback needs https or localhost (AudioWorklet).');
    this.ready = ctx.audioWorklet.addModule(new URL('worklets.js', document.baseURI).href);
    this.ready
      .then(() => {
        this.gain = ctx.createGain();
        this.gain.gain.value = this.muted ? 0 : 1;
        this.gain.connect(ctx.destination);
        for (const channel of ['main', 'preview'] as const) {
          const node = new AudioWorkletNode(ctx, 'chorus-player', { numberOfInputs: 0, outputChannelCount: [1] });
          node.connect(this.gain);
          node.port.onmessage = (e) => this.onWorklet(channel, e.data);
          this.nodes.set(channel, node);
        }
        for (const [channel, msg, transfer] of this.pending.splice(0)) this.nodes.get(channel)!.port.postMessage(msg, transfer);
      })
      .catch((err: Error) => this.fail(`Could not start audio playback: ${err.message}`));
  }

  private fail(text: string): void {
    if (!this.failed) this.onError(text);
    this.failed = true;
  }

  private post(channel: Channel, msg: unknown, transfer: Transferable[] = []): void {
    const node = this.nodes.get(channel);
    if (node) node.port.postMessage(msg, transfer);
    else if (this.ctx && !this.failed) this.pending.push([channel, msg, transfer]); // worklet still loading
  }

  cancel(id: string | null | undefined): void {
    if (id == null) return;
    if (this.got?.id === id) this.got = null;
    this.cancelled.add(id);
    if (this.cancelled.size > 200) this.cancelled.delete(this.cancelled.values().next().value!); // bounded
  }

  isCancelled(id: string): boolean {
    return this.cancelled.has(id);
  }

  /** Message ids of replies whose audio is arriving. */
  arriving(): string[] {
    return [...this.streams].filter(([, st]) => st.channel === 'main').map(([id]) => id);
  }

  start(d: StreamStart, channel: Channel = 'main'): void {
    if (this.cancelled.has(d.message_id)) return;
    if (!this.ctx) this.ensure(); // audio before any gesture: queued, it plays once a gesture resumes the context
    if (!this.ctx || this.failed) return;
    const rate = d.sample_rate || 24000;
    this.streams.set(d.message_id, { rate, step: rate / this.ctx.sampleRate, t: 0, prev: 0, channel });
    // A message resumed after a reconnect goes on counting from what had arrived.
    if (channel === 'main' && this.got?.id !== d.message_id) this.got = { id: d.message_id, ms: 0 };
  }

  /** What arrived of the reply audio last received, as the socket URL's resume hint (AudioResumeQuery). */
  received(): { audio_message_id: string; audio_received_ms: string } | null {
    return this.got && { audio_message_id: this.got.id, audio_received_ms: String(Math.ceil(this.got.ms)) };
  }

  /** The `audio_chunk` that announces the next binary frame. */
  chunk(messageId: string): void {
    this.chunkFor = messageId;
  }

  frame(buf: ArrayBuffer): void {
    this.stats.framesReceived++;
    const id = this.chunkFor;
    this.chunkFor = null;
    const pcm = new Int16Array(buf, 0, buf.byteLength >> 1); // little-endian, as every browser platform is
    this.stats.samplesReceived += pcm.length;
    const st = id ? this.streams.get(id) : undefined;
    if (!st || this.cancelled.has(id!)) return;
    if (this.got?.id === id) this.got.ms += (pcm.length / st.rate) * 1000;
    const x = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) x[i] = pcm[i] / 32768;
    const y = resample(st, x);
    if (y.length) this.post(st.channel, { type: 'push', id, samples: y }, [y.buffer]);
  }

  stop(messageId: string): void {
    const st = this.streams.get(messageId);
    if (!st) return; // unknown or cancelled
    this.streams.delete(messageId);
    this.post(st.channel, { type: 'end', id: messageId }); // lets the worklet play a short tail without the prebuffer
  }

  /** The socket closed: those streams will never finish, so let what is queued play out. */
  endAll(): void {
    for (const [id, st] of this.streams) this.post(st.channel, { type: 'end', id });
    this.streams.clear();
    this.chunkFor = null;
  }

  /** Silence a channel now. */
  flush(channel: Channel = 'main'): void {
    this.post(channel, { type: 'flush' });
    if (channel === 'main') this.got = null;
    for (const [id, st] of this.streams) if (st.channel === channel) this.streams.delete(id);
    if (this.chunkFor && !this.streams.has(this.chunkFor)) this.chunkFor = null;
  }

  setMuted(on: boolean): void {
    this.muted = on;
    if (this.gain) this.gain.gain.value = on ? 0 : 1; // progress keeps counting, so audio_end_ms stays right
  }

  private onWorklet(channel: Channel, m: { type: 'progress' | 'done'; id: string | null; ms: number; nonSilent: number; messagesPlayed: number }): void {
    this.counts.set(channel, { nonSilent: m.nonSilent, messagesPlayed: m.messagesPlayed });
    this.stats.nonSilentSamplesPlayed = [...this.counts.values()].reduce((a, c) => a + c.nonSilent, 0);
    this.stats.messagesPlayed = [...this.counts.values()].reduce((a, c) => a + c.messagesPlayed, 0);
    if (m.id != null && this.cancelled.has(m.id)) return; // a report posted before the flush landed
    if (m.id != null) {
      this.stats.lastPlayed = { message_id: m.id, ms: m.ms };
      if (!(m.id in this.stats.playedMs) && Object.keys(this.stats.playedMs).length >= 200) {
        delete this.stats.playedMs[Object.keys(this.stats.playedMs)[0]!]; // bounded
      }
      this.stats.playedMs[m.id] = m.ms;
    }
    this.onReport({ channel, id: m.id, ms: m.ms, type: m.type });
  }
}

// Linear interpolation. st.t is the next output position in source samples relative to x[0]; -1 means the
// previous chunk's last sample (st.prev), so chunks of one message join without a click.
function resample(st: Resampler, x: Float32Array): Float32Array {
  const n = x.length;
  const step = st.step;
  if (step === 1 || !n) return x;
  const out = new Float32Array(Math.max(0, Math.ceil((n - 1 - st.t) / step)) + 1);
  let t = st.t;
  let k = 0;
  for (; t < n - 1; t += step) {
    const i = Math.floor(t);
    const a = i < 0 ? st.prev : x[i];
    out[k++] = a + (x[i + 1] - a) * (t - i);
  }
  st.t = t - n;
  st.prev = x[n - 1];
  return out.subarray(0, k);
}
