import type { Message } from '@chorus/contracts';

export interface MessageBatchOptions {
  /** How long the first job of a batch waits for others to join it (ms, default 200; PERSIST_BATCH_MS). */
  windowMs: number;
  /** A batch is written at once when it holds this many messages (default 500). */
  maxMessages: number;
}

interface Group {
  messages: Message[];
  done: (err?: unknown) => void;
}

/**
 * Gathers the messages of write-behind jobs that arrive close together into one store write (one
 * transaction): per-job commits were most of the edge's CPU per turn, and they ran while the next turn
 * was being answered. Batches are written one after another. When a batch fails, its jobs are written
 * one by one, so a bad job (e.g. its conversation was deleted) fails alone and the others succeed.
 */
export class MessageBatcher {
  private groups: Group[] = [];
  private count = 0;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly save: (messages: Message[]) => Promise<void>,
    private readonly o: MessageBatchOptions = { windowMs: 200, maxMessages: 500 },
  ) {}

  /** Resolves once these messages are stored; rejects with the store's error for them. */
  add(messages: Message[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.groups.push({ messages, done: (err) => (err === undefined ? resolve() : reject(err)) });
      this.count += messages.length;
      if (this.count >= this.o.maxMessages) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.o.windowMs);
    });
  }

  /** Writes what has gathered now, without waiting for the window. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const groups = this.groups;
    this.groups = [];
    this.count = 0;
    if (groups.length) this.writing = this.writing.then(() => this.write(groups));
  }

  private async write(groups: Group[]): Promise<void> {
    try {
      await this.save(groups.flatMap((g) => g.messages));
      for (const g of groups) g.done();
    } catch (err) {
      if (groups.length === 1) return groups[0]!.done(err ?? new Error('save failed'));
      for (const g of groups) await this.save(g.messages).then(() => g.done(), (e: unknown) => g.done(e ?? new Error('save failed')));
    }
  }
}
