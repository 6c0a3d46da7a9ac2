import { randomUUID } from 'node:crypto';
import { DEFAULT_INPUT_SAMPLE_RATE } from '@chorus/contracts';
import type { Heard } from '../audio-relay.js';
import type { Handler, RequestContext } from '../context.js';

export const ping: Handler<'ping'> = (ctx) => ctx.reply('pong');

export const userMessage: Handler<'user_message'> = async (ctx, { text }) => {
  await ctx.state.submitTurn({
    conversation_id: ctx.session.conversationId,
    turn_id: randomUUID(),
    message_id: randomUUID(),
    source: 'text',
    text,
    user_name: ctx.config.USER_NAME,
    session_id: ctx.session.id,
  });
};

export const interrupt: Handler<'interrupt'> = async (ctx, data) => {
  const conversationId = ctx.session.conversationId;
  const cut = await ctx.state.interrupt({
    conversation_id: conversationId,
    message_id: data?.message_id,
    audio_end_ms: data?.audio_end_ms,
    session_id: ctx.session.id,
  });
  // Local first: nothing of the cancelled turn is sent after the ack, even before the workers react.
  const heard = data?.audio_end_ms === undefined ? null : ctx.fanout.audio.heard(conversationId, data.message_id, data.audio_end_ms);
  ctx.fanout.markCancelled(conversationId, cut);
  ctx.reply('interrupt_ack', { conversation_id: conversationId });
  if (heard) await keepWhatWasHeard(ctx, conversationId, heard, data!.audio_end_ms!);
};

/** The reply is stored (and kept as the characters' context) as far as the user heard it. */
async function keepWhatWasHeard(ctx: RequestContext, conversationId: string, heard: Heard, audioEndMs: number): Promise<void> {
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
  const current = await ctx.store.getConversation(id);
  const merged = { ...(current?.model_settings ?? {}), ...data };
  await ctx.state.setSettings(id, merged);
  await ctx.store.updateConversation({ id, model_settings: merged });
  ctx.reply('settings_updated', { conversation_id: id, model_settings: merged });
};

// Voice input arrives with the stt-worker (issue 4); until then the edge says so plainly.
export const startListening: Handler<'start_listening'> = (ctx, data) =>
  ctx.fail('stt_unavailable', `Voice input is not available on this server yet (requested ${data?.sample_rate ?? DEFAULT_INPUT_SAMPLE_RATE} Hz); type your message instead.`);

export const stopListening: Handler<'stop_listening'> = () => undefined;
