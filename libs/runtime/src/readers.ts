import type { Redis } from 'ioredis';

/**
 * Connections for blocking reads (XREAD BLOCK holds its connection), one per message being spoken,
 * reused across messages and created on demand up to the worker's concurrency.
 */
export class ReaderPool {
  private readonly idle: Redis[] = [];
  private readonly all = new Set<Redis>();

  constructor(
    private readonly redis: Redis,
    private readonly name: string,
  ) {}

  acquire(): Redis {
    const conn = this.idle.pop() ?? this.redis.duplicate({ connectionName: `${this.name}:read` });
    this.all.add(conn);
    return conn;
  }

  release(conn: Redis): void {
    this.idle.push(conn);
  }

  close(): void {
    for (const c of this.all) c.disconnect();
    this.all.clear();
    this.idle.length = 0;
  }
}
