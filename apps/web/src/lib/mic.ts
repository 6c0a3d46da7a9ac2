// Microphone. Capture runs in the 'chorus-mic' worklet of the playback context (one context, one module);
// its 16 kHz PCM16 20 ms frames go out as binary socket frames after start_listening.
import type { Player } from './audio.js';
import type { Connection } from './socket.js';

export const MIC_RATE = 16000;

export interface MicStats {
  framesSent: number;
  bytesSent: number;
  listening: boolean;
}

export interface MicView {
  /** Switched on (maybe still asking for permission). */
  on: boolean;
  /** Frames are flowing. */
  listening: boolean;
}

export class Mic {
  private gen = 0;
  private on = false;
  private stream: MediaStream | null = null;
  private nodes: AudioNode[] = [];
  private worklet: AudioWorkletNode | null = null;
  /** The socket start_listening was sent on; a reconnect announces again. */
  private sentOn: WebSocket | null = null;
  readonly stats: MicStats = { framesSent: 0, bytesSent: 0, listening: false };

  constructor(
    private readonly player: Player,
    private readonly conn: Connection,
    private readonly onChange: (v: MicView) => void,
    private readonly onError: (text: string) => void,
  ) {}

  get isOn(): boolean {
    return this.on;
  }

  async start(): Promise<void> {
    if (this.on) return;
    const gen = ++this.gen;
    this.on = true;
    this.changed();
    this.player.ensure(); // still inside the gesture, so the shared context may start
    try {
      if (!navigator.mediaDevices?.getUserMedia) {
        throw new Error('the microphone needs a secure page (https or localhost): navigator.mediaDevices is missing here.');
      }
      if (!this.player.ready) throw new Error('this browser cannot run the capture worklet (AudioWorklet).');
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
      if (gen !== this.gen) return stream.getTracks().forEach((t) => t.stop()); // switched off while asking
      this.stream = stream;
      await this.player.ready;
      if (gen !== this.gen) return;
      this.player.ensure(); // resumes the context if it is still suspended
      const ctx = this.player.ctx!;
      const node = new AudioWorkletNode(ctx, 'chorus-mic', {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
        channelCount: 1, channelCountMode: 'explicit', channelInterpretation: 'speakers', // the browser downmixes
      });
      const src = ctx.createMediaStreamSource(stream);
      const sink = ctx.createGain();
      sink.gain.value = 0; // the worklet is only pulled when it reaches the destination; the mic must never be heard
      src.connect(node).connect(sink).connect(ctx.destination);
      this.worklet = node;
      this.nodes = [src, node, sink];
      node.port.onmessage = (e) => {
        if (this.worklet === node) this.sendFrame(e.data as ArrayBuffer);
      };
      stream.getAudioTracks()[0]?.addEventListener('ended', () => {
        if (this.stream === stream) this.fail('Microphone off — the device went away.');
      });
      this.stats.listening = true;
      this.changed();
      this.announce();
    } catch (err) {
      if (gen === this.gen) this.fail(`Microphone off — ${reason(err)}`);
    }
  }

  stop(): void {
    this.gen++; // a start still waiting on permission or the worklet gives up
    if (this.sentOn && this.sentOn === this.conn.ws) this.conn.send('stop_listening');
    this.worklet?.port.postMessage('stop');
    for (const n of this.nodes) n.disconnect();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.worklet = null;
    this.nodes = [];
    this.sentOn = null;
    this.on = false;
    this.stats.listening = false;
    this.changed();
  }

  fail(text: string): void {
    this.stop();
    this.onError(text);
  }

  /** start_listening once per socket (a reconnect gets it again), always before that socket's first frame. */
  announce(): void {
    const ws = this.conn.ws;
    if (!this.stats.listening || !ws || !this.conn.open || this.sentOn === ws) return;
    this.conn.send('start_listening', { sample_rate: MIC_RATE });
    this.sentOn = ws;
  }

  private sendFrame(buf: ArrayBuffer): void {
    this.announce();
    if (this.sentOn !== this.conn.ws || !this.conn.sendBinary(buf)) return; // socket down: dropped, not queued
    this.stats.framesSent++;
    this.stats.bytesSent += buf.byteLength;
  }

  private changed(): void {
    this.onChange({ on: this.on, listening: this.stats.listening });
  }
}

function reason(err: unknown): string {
  const e = err as { name?: string; message?: string } | undefined;
  const known: Record<string, string> = {
    NotAllowedError: 'microphone permission was denied; allow it in the browser and try again.',
    NotFoundError: 'no microphone was found; plug one in and try again.',
    NotReadableError: 'the microphone is in use or unavailable.',
    SecurityError: 'the page may not use the microphone (it needs https or localhost).',
  };
  return (e?.name && known[e.name]) || String(e?.message ?? err);
}
