import { compareStreamIds, STREAMS } from '@chorus/contracts';
import { StreamTail, type Logger } from '@chorus/runtime';
import type { Redis } from 'ioredis';

interface Watched {
  seq: string;
  controller: AbortController;
}

/**
 * Learns about interrupts of the conversations whose turns run here by tailing their `control:{c}`
 * streams. An interrupt entry's id is the cut: it cancels every turn submitted before it.
 */
export class CancelWatch {
  private readonly tail: StreamTail;
  private readonly watched = new Map<string, Set<Watched>>();

  constructor(redis: Redis, logger: Logger) {
    this.tail = new StreamTail({
      redis,
      logger,
      onEntries: (stream, entries) => {
        const conversationId = stream.slice(stream.indexOf('{') + 1, stream.lastIndexOf('}'));
        for (const [id] of entries) {
          for (const w of this.watched.get(conversationId) ?? []) {
            if (compareStreamIds(w.seq, id) < 0) w.controller.abort(new Error('interrupted'));
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

  /** A signal aborted by any interrupt of the conversation issued after `seq`. */
  watch(conversationId: string, seq: string): { signal: AbortSignal; dispose(): void } {
    const w: Watched = { seq, controller: new AbortController() };
    let set = this.watched.get(conversationId);
    if (!set) this.watched.set(conversationId, (set = new Set()));
    set.add(w);
    const stream = STREAMS.control(conversationId);
    // Reading from the turn's own id catches interrupts issued between its submission and now.
    void this.tail.add(stream, seq);
    return {
      signal: w.controller.signal,
      dispose: () => {
        set!.delete(w);
        if (set!.size === 0) {
          this.watched.delete(conversationId);
          this.tail.remove(stream);
        }
      },
    };
  }

  stop(): Promise<void> {
    return this.tail.stop();
  }
}
