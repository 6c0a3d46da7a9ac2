import type { Handler } from '../context.js';
import { showConversation } from '../conversations.js';

export const newConversation: Handler<'new_conversation'> = async (ctx, data) => {
  const conversation = await ctx.store.createConversation({ title: data?.title || undefined });
  await showConversation(ctx, ctx.session, conversation);
  ctx.reply('conversation_started', { conversation_id: conversation.id, title: conversation.title });
};

export const openConversation: Handler<'open_conversation'> = async (ctx, { conversation_id }) => {
  const conversation = await ctx.store.getConversation(conversation_id);
  if (!conversation) return ctx.fail('not_found', `No conversation with id ${conversation_id}.`);
  await showConversation(ctx, ctx.session, conversation);
  ctx.reply('conversation_started', { conversation_id: conversation.id, title: conversation.title });
};

/** A new empty conversation with the same characters and settings; the old one stays in the list. */
export const clearHistory: Handler<'clear_history'> = async (ctx) => {
  const old = await ctx.store.getConversation(ctx.session.conversationId);
  const conversation = await ctx.store.createConversation({ model_settings: old?.model_settings });
  await showConversation(ctx, ctx.session, conversation);
  ctx.reply('history_cleared', { conversation_id: conversation.id });
  ctx.reply('conversation_started', { conversation_id: conversation.id, title: conversation.title });
};

export const getConversations: Handler<'get_conversations'> = async (ctx) => {
  ctx.reply('conversations_data', await ctx.store.listConversations());
};

export const getMessages: Handler<'get_messages'> = async (ctx, { conversation_id }) => {
  if (!(await ctx.store.getConversation(conversation_id))) return ctx.fail('not_found', `No conversation with id ${conversation_id}.`);
  ctx.reply('messages_data', { conversation_id, messages: await ctx.store.listMessages(conversation_id) });
};

export const deleteConversation: Handler<'delete_conversation'> = async (ctx, { conversation_id }) => {
  if (!(await ctx.store.deleteConversation(conversation_id))) return ctx.fail('not_found', `No conversation with id ${conversation_id}.`);
  await ctx.state.forgetConversation(conversation_id);
  ctx.reply('conversation_deleted', { conversation_id });
  if (ctx.session.conversationId === conversation_id) {
    const fresh = await ctx.store.createConversation({});
    await showConversation(ctx, ctx.session, fresh);
    ctx.reply('conversation_started', { conversation_id: fresh.id, title: fresh.title });
  }
};
