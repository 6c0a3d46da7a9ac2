import type { Duplex } from 'node:stream';
import type { ServerData, ServerType } from '@chorus/contracts';
import WebSocket from 'ws';
import type { MicInput } from './mic.js';

/** One socket: which conversation it shows, and an ordered send. */
export class Session {
  conversationId = '';
  /** The microphone while listening (between start_listening and stop_listening). */
  mic: MicInput | undefined;
  /** Serializes this socket's requests so that e.g. settings land before the next message. */
  private queue: Promise<void> = Promise.resolve();
  /** Frames held back while the socket changes conversation (see hold()). */
  private held: Array<string | Buffer> | null = null;
  private heldBytes = 0;

  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    private readonly maxBuffered: number,
    /** The socket under `ws`, for cork()/uncork(). */
    private readonly socket: Pick<Duplex, 'cork' | 'uncork'>,
  ) {}

  /** Holds what is sent until uncork(), which writes it all at once (one syscall for a batch of frames). */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  send<T extends ServerType>(type: T, data?: ServerData<T>, id?: string): void {
    this.sendJson(JSON.stringify(id === undefined ? { type, data } : { type, data, id }));
  }

  sendJson(json: string): void {
    if (this.held) this.keep(json);
    else if (this.writable()) this.ws.send(json);
  }

  sendBinary(data: Buffer): void {
    if (this.held) this.keep(data);
    else if (this.writable()) this.ws.send(data, { binary: true });
  }

  /**
   * Holds back what is sent from now on, until release(): the conversation's live events must not reach the
   * client before it is told which conversation it shows, nor before the part of the reply it missed.
   */
  hold(): void {
    this.held ??= [];
  }

  /** Sends what `first` sends (the announcement, the reply so far), then what was held, and sends directly again. */
  release(first?: () => void): void {
    const held = this.held ?? [];
    this.held = null;
    this.heldBytes = 0;
    first?.();
    for (const f of held) {
      if (typeof f === 'string') this.sendJson(f);
      else this.sendBinary(f);
    }
  }

  private keep(frame: string | Buffer): void {
    this.held!.push(frame);
    this.heldBytes += frame.length;
    // Bounded like the socket's own buffer: a hold that lasts (a stalled database) must not grow without limit.
    if (this.heldBytes > this.maxBuffered) {
      this.held = [];
      this.heldBytes = 0;
      this.ws.close(1013, 'client too slow');
    }
  }

  /** The socket is closing or closed: nothing more reaches it. */
  get closed(): boolean {
    return this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED;
  }

  /** Drops the connection at once: a close handshake would wait behind what the client is not reading. */
  cutOff(): void {
    this.ws.terminate();
  }

  /** Bytes queued on the socket and not yet sent. */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  private writable(): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    // A client that does not read must not grow the edge's memory without bound.
    if (this.ws.bufferedAmount > this.maxBuffered) {
      this.ws.close(1013, 'client too slow');
      return false;
    }
    return true;
  }

  enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task, task);
  }
}
