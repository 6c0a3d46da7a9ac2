import type { Handler } from '../context.js';
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
  ctx.reply('conversations_data', await ctx.store.listConversations());
};

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
    const cut = await ctx.state.control('deleted', { conversation_id, session_id: ctx.session.id });
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
