import { randomUUID } from 'node:crypto';
import type { ModelSettings } from '@chorus/contracts';
import type { Heard } from '../audio-relay.js';
import type { EdgeServices, Handler } from '../context.js';
import type { Session } from '../session.js';

export const ping: Handler<'ping'> = (ctx) => ctx.reply('pong');

export const userMessage: Handler<'user_message'> = async (ctx, { text }) => {
  const seq = await ctx.state.submitTurn({
    conversation_id: ctx.session.conversationId,
    turn_id: randomUUID(),
    message_id: randomUUID(),
    source: 'text',
    text,
    user_name: ctx.config.USER_NAME,
    session_id: ctx.session.id,
    // Its turn's events and speech come back to this socket with the request's id.
    ...(ctx.requestId === undefined ? {} : { request_id: ctx.requestId }),
  });
  ctx.fanout.submitted(ctx.session.conversationId, seq);
};

export const interrupt: Handler<'interrupt'> = (ctx, data) =>
  cutTurn(ctx, ctx.session, data ?? {}, (conversationId) => ctx.reply('interrupt_ack', { conversation_id: conversationId }));

/**
 * Cancels the conversation's running turn (the `interrupt` path, also taken by barge-in): nothing of it is sent
 * after the ack, and the reply is kept as far as the user heard it when `audio_end_ms` is known. Turns the user
 * sent while it ran are still answered.
 */
export async function cutTurn(
  svc: EdgeServices,
  session: Session,
  data: { message_id?: string; audio_end_ms?: number },
  ack: (conversationId: string) => void,
): Promise<void> {
  const conversationId = session.conversationId;
  const cut = await svc.state.control('interrupt', {
    conversation_id: conversationId,
    message_id: data.message_id,
    audio_end_ms: data.audio_end_ms,
    session_id: session.id,
    // Just after the turn under way: what the user sent meanwhile is still answered.
    cut: svc.fanout.interruptCut(conversationId, data.message_id),
    floor: svc.fanout.sentBefore(conversationId),
  });
  // Local first: nothing of the cancelled turn is sent after the ack, even before the workers react.
  const heard = data.audio_end_ms === undefined ? null : svc.fanout.audio.heard(conversationId, data.message_id, data.audio_end_ms);
  svc.fanout.markCancelled(conversationId, cut);
  ack(conversationId);
  if (heard) await keepWhatWasHeard(svc, conversationId, heard, data.audio_end_ms!);
}

/** The reply is stored (and kept as the characters' context) as far as the user heard it. */
async function keepWhatWasHeard(ctx: EdgeServices, conversationId: string, heard: Heard, audioEndMs: number): Promise<void> {
  await ctx.state.recordHeard(conversationId, heard.message_id, heard.content, audioEndMs);
  await ctx.store.saveMessage({
    id: heard.message_id,
    conversation_id: conversationId,
    turn_id: heard.turn_id,
    role: 'assistant',
    name: heard.character_name,
    character_id: heard.character_id,
    content: heard.content,
    interrupted: true,
    audio_end_ms: audioEndMs,
    created_at: new Date().toISOString(),
  });
}

export const modelSettings: Handler<'model_settings'> = async (ctx, data) => {
  const id = ctx.session.conversationId;
  const gone = () => ctx.fail('not_found', `No conversation with id ${id}.`);
  const current = await ctx.store.getConversation(id);
  if (!current) return gone();
  const merged: ModelSettings = { ...current.model_settings };
  for (const [key, value] of Object.entries(data) as [keyof ModelSettings, unknown][]) {
    if (value === null) delete merged[key];
    else (merged as Record<string, unknown>)[key] = value;
  }
  // The database first: what it refuses (db_error) must not reach the copy in Redis that the workers use.
  if (!(await ctx.store.updateConversation({ id, model_settings: merged }))) return gone();
  await ctx.state.setSettings(id, merged);
  ctx.reply('settings_updated', { conversation_id: id, model_settings: merged });
};
