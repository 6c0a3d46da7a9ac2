import { DEFAULT_INPUT_SAMPLE_RATE } from '@chorus/contracts';
import type { EdgeServices, Handler } from '../context.js';
import { MicInput } from '../mic.js';
import type { Session } from '../session.js';
import { cutTurn } from './chat.js';

/** Binary frames that follow are the user's microphone, for one stt-worker to transcribe. */
export const startListening: Handler<'start_listening'> = async (ctx, data) => {
  const rate = data?.sample_rate ?? DEFAULT_INPUT_SAMPLE_RATE;
  if (!(await ctx.listeners.isAlive())) {
    stopMic(ctx.session);
    return ctx.fail('stt_unavailable', 'Voice input is unavailable: no stt-worker is running. Type your message instead.');
  }
  const mic = ctx.session.mic;
  if (mic && mic.sampleRate === rate && mic.conversationId === ctx.session.conversationId) return;
  await openMic(ctx, ctx.session, rate);
};

export const stopListening: Handler<'stop_listening'> = (ctx) => stopMic(ctx.session);

/** Starts (or restarts, e.g. on another conversation) the socket's listening session. */
export async function openMic(svc: EdgeServices, session: Session, sampleRate: number): Promise<void> {
  stopMic(session);
  if (session.closed) return; // a request queued before the socket closed: nobody to listen to
  const mic = new MicInput(svc.redis, svc.logger, session.conversationId, sampleRate, {
    maxFrames: svc.config.MIC_MAX_FRAMES,
    ttlSec: svc.config.MIC_TTL_SEC,
  });
  session.mic = mic; // set before the await: frames queued behind this request belong to it
  await mic.open(session.id, svc.config.USER_NAME, 10_000);
  if (session.closed && session.mic === mic) stopMic(session); // closed meanwhile: its close handler found no mic yet
}

export function stopMic(session: Session): void {
  session.mic?.close();
  session.mic = undefined;
}

/** Checks a binary frame; returns why it is refused, or appends it to the listening session. */
export function micFrame(session: Session, frame: Buffer): string | undefined {
  if (!session.mic) return 'Binary frames are microphone audio and need start_listening first.';
  if (frame.length === 0 || frame.length % 2 !== 0)
    return `Microphone frames are 16-bit PCM: ${frame.length} bytes is not a whole number of samples.`;
  session.mic.push(frame);
  return undefined;
}

/**
 * The user started talking (`speech_started` from the stt-worker of this socket's session). While a
 * character's audio is playing or due, that interrupts the turn the same way `interrupt` does; the edge
 * estimates how much of the message was heard from when its audio started playing.
 */
export async function bargeIn(svc: EdgeServices, session: Session): Promise<void> {
  const c = session.conversationId;
  if (!svc.config.BARGE_IN || !svc.fanout.audio.busy(c)) return;
  const playing = svc.fanout.audio.nowPlaying(c);
  await cutTurn(svc, session, { message_id: playing?.message_id, audio_end_ms: playing?.audio_end_ms }, (conversationId) =>
    session.send('interrupt_ack', { conversation_id: conversationId, reason: 'barge_in' }),
  );
  svc.metrics.emit({ kind: 'barge_in' });
}
