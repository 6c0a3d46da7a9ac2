import { describe, expect, it } from 'vitest';
import * as kit from '@chorus/testkit';

describe('@chorus/testkit entry point', () => {
  it('re-exports every helper', () => {
    for (const name of [
      'freePort',
      'startRedis',
      'startScriptedLlm',
      'unusedUrl',
      'echoReplyText',
      'TestSocket',
      'spawnApp',
      'spawnScript',
      'stopAll',
      'waitUntil',
      'sleep',
      'createPgDatabase',
    ]) {
      expect(typeof (kit as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
