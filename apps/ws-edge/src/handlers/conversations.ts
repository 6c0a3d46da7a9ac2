import { KEYS, type Conversation } from '@chorus/contracts';
import { DEFAULT_TITLE } from '@chorus/store';
import type { Handler, RequestContext } from '../context.js';
import { leaveDeleted, showConversation } from '../conversations.js';
import { withUnsaved } from '../unsaved.js';

export const newConversation: Handler<'new_conversation'> = async (ctx, data) => {
  const conversation = await ctx.store.createConversation({ title: data?.title || undefined });
  await showConversation(ctx, ctx.session, conversation, () => ctx.reply('conversation_started', { conversation_id: conversation.id, title: conversation.title }));
};

export const openConversation: Handler<'open_conversation'> = async (ctx, { conversation_id }) => {
  const conversation = await ctx.store.getConversation(conversation_id);
  if (!conversation) return ctx.fail('not_found', `No conversation with id ${conversation_id}.`);
  await showConversation(ctx, ctx.session, conversation, () => ctx.reply('conversation_started', { conversation_id: conversation.id, title: conversation.title }));
};

/** A new empty conversation with the same characters and settings; the old one stays in the list. */
export const clearHistory: Handler<'clear_history'> = async (ctx) => {
  const old = await ctx.store.getConversation(ctx.session.conversationId);
  const conversation = await ctx.store.createConversation({ model_settings: old?.model_settings });
  await showConversation(ctx, ctx.session, conversation, () => {
    ctx.reply('history_cleared', { conversation_id: conversation.id });
    ctx.reply('conversation_started', { conversation_id: conversation.id, title: conversation.title });
  });
};

export const getConversations: Handler<'get_conversations'> = async (ctx) => {
  ctx.reply('conversations_data', await listed(ctx));
};

/**
 * The conversations worth listing. Every page load, New and Clear start one, so those never used (untitled, no
 * message) are left out, but for the one this socket shows and any whose first turn is under way (its messages
 * are not in the database yet, but in the history the workers read).
 */
async function listed(ctx: RequestContext): Promise<Conversation[]> {
  const all = await ctx.store.listConversations();
  const unused = all.filter((c) => c.message_count === 0 && c.title === DEFAULT_TITLE && c.id !== ctx.session.conversationId);
  if (!unused.length) return all;
  // Only a recent one can have a first turn under way (a turn waits TURN_MAX_AGE_MS at most): those are looked up.
  const recent = unused.filter((c) => Date.now() - Date.parse(c.updated_at) < RECENT_MS);
  const live = await Promise.all(recent.map((c) => ctx.redis.exists(KEYS.history(c.id))));
  const shown = new Set(recent.filter((_, i) => live[i]).map((c) => c.id));
  const hidden = new Set(unused.filter((c) => !shown.has(c.id)).map((c) => c.id));
  return all.filter((c) => !hidden.has(c.id));
}
const RECENT_MS = 60 * 60 * 1000;

export const getMessages: Handler<'get_messages'> = async (ctx, { conversation_id }) => {
  if (!(await ctx.store.getConversation(conversation_id))) return ctx.fail('not_found', `No conversation with id ${conversation_id}.`);
  const unsaved = await ctx.state.unsavedMessages(conversation_id); // before the database's: see withUnsaved
  ctx.reply('messages_data', { conversation_id, messages: withUnsaved(await ctx.store.listMessages(conversation_id), unsaved) });
};

/**
 * The deletion is also a cut on the conversation's control stream: its running turns are cancelled, and every
 * edge (this one too) moves the other sockets that show it to new conversations (`followDeletion`).
 */
export const deleteConversation: Handler<'delete_conversation'> = async (ctx, { conversation_id }) => {
  if (!(await ctx.store.deleteConversation(conversation_id))) return ctx.fail('not_found', `No conversation with id ${conversation_id}.`);
  try {
    const cut = await ctx.state.control('deleted', { conversation_id, session_id: ctx.session.id, floor: ctx.fanout.sentBefore(conversation_id) });
    // Local first, as for an interrupt: nothing more of the cancelled turn reaches this edge's sockets.
    ctx.fanout.markCancelled(conversation_id, cut);
    await ctx.state.forgetConversation(conversation_id);
  } catch (err) {
    // It is gone from the database all the same: the requester still moves off it.
    ctx.logger.warn({ err, conversation_id }, 'could not announce a deleted conversation to the other sockets');
  }
  if (ctx.session.conversationId === conversation_id) return leaveDeleted(ctx, ctx.session, conversation_id, ctx.reply);
  ctx.reply('conversation_deleted', { conversation_id });
};
