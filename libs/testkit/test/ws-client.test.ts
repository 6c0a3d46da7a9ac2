import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SocketRefusedError, STRAY_BINARY, TestSocket, UNPARSEABLE } from '../src/ws-client.js';
import { waitUntil } from '../src/wait.js';

let http: Server;
let wss: WebSocketServer;
let base: string;
const serverSockets = new Set<WebSocket>();
const serverGot: { text?: string; binary?: Buffer }[] = [];

beforeAll(async () => {
  http = createServer((_req, res) => res.writeHead(404).end());
  wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const token = url.searchParams.get('token') ?? req.headers.authorization?.replace(/^Bearer /, '');
    if (token !== 'secret') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nunauthorized');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      serverSockets.add(ws);
      ws.on('close', () => serverSockets.delete(ws));
      ws.send(JSON.stringify({ type: 'session_started', data: { session_id: 's1' } }));
      ws.on('message', (raw, isBinary) => {
        const buf = raw as Buffer;
        if (isBinary) {
          serverGot.push({ binary: buf });
          return;
        }
        const text = buf.toString();
        serverGot.push({ text });
        let msg: any;
        try {
          msg = JSON.parse(text);
        } catch {
          ws.send(JSON.stringify({ type: 'error', data: { code: 'invalid_json' } }));
          return;
        }
        if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong', id: msg.id }));
        if (msg.type === 'speak') {
          ws.send(JSON.stringify({ type: 'audio_stream_start', data: { message_id: 'm1', sample_rate: 24000 } }));
          for (let i = 0; i < 3; i++) {
            ws.send(JSON.stringify({ type: 'audio_chunk', data: { message_id: 'm1', chunk_index: i } }));
            ws.send(Buffer.from([i, i, i, i]), { binary: true });
          }
          ws.send(Buffer.from([9]), { binary: true }); // stray: no audio_chunk before it
          ws.send('not json');
          ws.send(JSON.stringify({ type: 'audio_stream_stop', data: { message_id: 'm1' } }));
        }
        if (msg.type === 'bye') ws.close(4000, 'bye now');
      });
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
});

afterAll(async () => {
  for (const ws of serverSockets) ws.terminate();
  wss.close();
  await new Promise<void>((r) => http.close(() => r()));
});

describe('TestSocket', () => {
  it('rejects a refused upgrade with the HTTP status', async () => {
    const err = await TestSocket.connect(base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocketRefusedError);
    expect((err as SocketRefusedError).status).toBe(401);
    expect((err as Error).message).toContain('401');
  });

  it('rejects when nothing listens', async () => {
    await expect(TestSocket.connect('ws://127.0.0.1:1/ws')).rejects.toThrow();
  });

  it('connects with a header or a query token, sends and waits for replies', async () => {
    const a = await TestSocket.connect(base, { headers: { Authorization: 'Bearer secret' } });
    const b = await TestSocket.connect(`${base}?token=secret`);
    try {
      expect(a.isOpen).toBe(true);
      const started = await a.waitForType('session_started');
      expect(started.data).toEqual({ session_id: 's1' });
      expect(typeof started.at).toBe('number');

      a.send('ping', undefined, 'c-1');
      const pong = await a.waitForType('pong', (m) => m.id === 'c-1');
      expect(pong.id).toBe('c-1');
      a.send('ping', { x: 1 }, 'c-2');
      await a.waitForType('pong', undefined, { from: a.received.indexOf(pong) + 1 });
      expect(a.ofType('pong').map((m) => m.id)).toEqual(['c-1', 'c-2']);
      expect(serverGot.map((g) => g.text)).toContain(JSON.stringify({ type: 'ping', data: { x: 1 }, id: 'c-2' }));
      expect(serverGot.map((g) => g.text)).toContain(JSON.stringify({ type: 'ping', id: 'c-1' }));

      b.sendRaw('{oops');
      const e = await b.waitForType('error');
      expect(e.data.code).toBe('invalid_json');
      b.sendRaw(Buffer.from([1, 2, 3]));
      await waitUntil(() => serverGot.some((g) => g.binary?.equals(Buffer.from([1, 2, 3]))));
    } finally {
      await a.close();
      await b.close();
    }
    expect(a.isOpen).toBe(false);
    await a.close(); // idempotent
  });

  it('attaches binary frames to their audio_chunk and counts them', async () => {
    const s = await TestSocket.connect(`${base}?token=secret`);
    try {
      s.send('speak');
      await s.waitForType('audio_stream_stop');
      const chunks = s.ofType('audio_chunk');
      expect(chunks.map((c) => c.data.chunk_index)).toEqual([0, 1, 2]);
      expect(chunks.map((c) => [...(c.binary ?? [])])).toEqual([
        [0, 0, 0, 0],
        [1, 1, 1, 1],
        [2, 2, 2, 2],
      ]);
      expect(s.binaryCount).toBe(4);
      expect(s.ofType(STRAY_BINARY).map((m) => [...m.binary!])).toEqual([[9]]);
      expect(s.ofType(UNPARSEABLE).map((m) => m.data)).toEqual(['not json']);
    } finally {
      await s.close();
    }
  });

  it('waitFor times out listing the types received, and rejects early when the socket closes', async () => {
    const s = await TestSocket.connect(`${base}?token=secret`);
    try {
      await s.waitForType('session_started');
      await expect(s.waitForType('never', undefined, { timeoutMs: 50 })).rejects.toThrow(/never.*after 50 ms.*session_started/);
      await expect(s.waitForType('session_started', undefined, { from: 1, timeoutMs: 50 })).rejects.toThrow(/no match/);
      const pending = s.waitForType('never', undefined, { timeoutMs: 30_000 });
      s.send('bye');
      await expect(pending).rejects.toThrow(/socket closed \(code 4000, bye now\)/);
      expect(await s.closed).toEqual({ code: 4000, reason: 'bye now' });
      expect(s.isOpen).toBe(false);
      // Messages received before the close can still be found.
      expect((await s.waitForType('session_started')).type).toBe('session_started');
    } finally {
      await s.close();
    }
  });
});
