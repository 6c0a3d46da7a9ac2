import { compareStreamIds, controlCut, STREAMS } from '@chorus/contracts';
import type { Logger } from 'pino';
import { StreamTail } from './tail.js';
import type { Redis } from 'ioredis';

interface Watched {
  seq: string;
  controller: AbortController;
}

/**
 * Learns about interrupts of the conversations whose turns run here by tailing their `control:{c}`
 * streams. Each entry has a cut (`controlCut`): it cancels every turn submitted before it. The same works
 * for any control stream (a watch's `streamOf`), e.g. a socket's preview cancels, on the same one read.
 */
export class CancelWatch {
  private readonly tail: StreamTail;
  /** By control stream. */
  private readonly watched = new Map<string, Set<Watched>>();
  /** Streams kept after their last turn, so a conversation's next turn does not re-subscribe (and wake the read). */
  private readonly lingering = new Map<string, NodeJS.Timeout>();

  constructor(
    redis: Redis,
    logger: Logger,
    private readonly lingerMs = 30_000,
  ) {
    this.tail = new StreamTail({
      redis,
      logger,
      onEntries: (stream, entries) => {
        for (const [id, fields] of entries) {
          const cut = controlCut(id, fields);
          for (const w of this.watched.get(stream) ?? []) {
            if (compareStreamIds(w.seq, cut) < 0) w.controller.abort(new Error('interrupted'));
          }
        }
      },
    });
    this.tail.start();
  }

  /** True when the interrupt cut `cut` (the value of `cancel:{c}`) cancels the turn `seq`. */
  static cancels(cut: string | null, seq: string): boolean {
    return cut !== null && compareStreamIds(seq, cut) < 0;
  }

  /**
   * A signal aborted by any interrupt of the conversation (or other channel: `streamOf` names its control
   * stream) issued after `seq`.
   */
  watch(id: string, seq: string, streamOf: (id: string) => string = STREAMS.control): { signal: AbortSignal; dispose(): void } {
    const w: Watched = { seq, controller: new AbortController() };
    const stream = streamOf(id);
    let set = this.watched.get(stream);
    if (!set) this.watched.set(stream, (set = new Set()));
    set.add(w);
    clearTimeout(this.lingering.get(stream));
    this.lingering.delete(stream);
    // Reading from the turn's own id catches interrupts issued between its submission and now. A stream
    // already followed misses none either: interrupts it delivered before are in the turn's cancel cut.
    void this.tail.add(stream, seq);
    return {
      signal: w.controller.signal,
      dispose: () => {
        set!.delete(w);
        if (set!.size > 0) return;
        this.watched.delete(stream);
        const timer = setTimeout(() => {
          this.lingering.delete(stream);
          this.tail.remove(stream);
        }, this.lingerMs);
        timer.unref();
        this.lingering.set(stream, timer);
      },
    };
  }

  stop(): Promise<void> {
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    return this.tail.stop();
  }
}
