import type { Conversation } from '@chorus/contracts';
import type { EdgeServices } from './context.js';
import { openMic } from './handlers/voice.js';
import type { Session } from './session.js';

/** Points a socket at a conversation: Redis state prepared, events subscribed. */
export async function showConversation(svc: EdgeServices, session: Session, conversation: Conversation): Promise<void> {
  await svc.state.prepareConversation(conversation.id, conversation.model_settings);
  // A socket that closed meanwhile has had its close handler run, for the conversation it showed then.
  if (session.closed || session.conversationId === conversation.id) return;
  const previous = session.conversationId;
  await svc.fanout.join(session, conversation.id);
  if (session.closed) return svc.fanout.leave(session, conversation.id);
  session.conversationId = conversation.id;
  if (previous) svc.fanout.leave(session, previous);
  // Listening follows the socket to its new conversation.
  if (session.mic) await openMic(svc, session, session.mic.sampleRate);
}

/** The conversation a new socket starts on: the one it asks for if it exists, else a new one. */
export async function initialConversation(svc: EdgeServices, requested: string | null): Promise<Conversation> {
  if (requested) {
    const existing = await svc.store.getConversation(requested);
    if (existing) return existing;
  }
  return svc.store.createConversation({});
}
