import type { AudioResumeQuery, Conversation, ServerData, ServerType } from '@chorus/contracts';
import type { EdgeServices } from './context.js';
import { openMic } from './handlers/voice.js';
import type { Session } from './session.js';

/**
 * Points a socket at a conversation: Redis state prepared, events subscribed (`audio`: see Fanout.join). Callers run in the socket's
 * queue (a request, or the session's start), so a move off a conversation found deleted comes after their reply.
 * `announce` sends what tells the client which conversation it shows; the conversation's events come after it,
 * starting with the reply under way that the client missed, so that it shows whole.
 */
export async function showConversation(svc: EdgeServices, session: Session, conversation: Conversation, announce: () => void, audio?: AudioResumeQuery): Promise<void> {
  let missed: string[];
  try {
    missed = await follow(svc, session, conversation, audio);
  } catch (err) {
    session.release();
    throw err;
  }
  session.release(() => {
    announce();
    for (const frame of missed) session.sendJson(frame);
  });
}

/** Moves the socket's events to the conversation; what it is sent from then on is held (Session.hold). */
async function follow(svc: EdgeServices, session: Session, conversation: Conversation, audio?: AudioResumeQuery): Promise<string[]> {
  await svc.state.prepareConversation(conversation.id, conversation.model_settings);
  // A socket that closed meanwhile has had its close handler run, for the conversation it showed then.
  if (session.closed || session.conversationId === conversation.id) return [];
  const previous = session.conversationId;
  // The previous conversation's events stop before any of this one's is held: none of them may come after the
  // announcement of this one.
  if (previous) svc.fanout.leave(session, previous);
  session.hold();
  let missed: string[];
  try {
    missed = await svc.fanout.join(session, conversation.id, audio);
  } catch (err) {
    // The socket goes on showing the conversation it showed.
    svc.fanout.leave(session, conversation.id);
    if (previous && !session.closed) await svc.fanout.join(session, previous).catch(() => undefined);
    throw err;
  }
  if (session.closed) {
    svc.fanout.leave(session, conversation.id);
    return [];
  }
  session.conversationId = conversation.id;
  // Listening follows the socket to its new conversation.
  if (session.mic) await openMic(svc, session, session.mic.sampleRate);
  // Deleted between the caller's read and the join above, its `deleted` entry came before this socket followed
  // the control stream, so the fanout will not report it: the database does.
  if (!(await svc.store.getConversation(conversation.id))) followDeletion(svc, session, conversation.id);
  return missed;
}

/** Sends to one socket: a request's `reply`, or a plain send for news it did not ask for. */
type Send = <T extends ServerType>(type: T, data?: ServerData<T>) => void;

/**
 * A socket that showed a deleted conversation is told so and moves to a new empty conversation of its own:
 * the socket that deleted it (`send` is its request's reply) and every other one, on any edge.
 */
export async function leaveDeleted(svc: EdgeServices, session: Session, conversationId: string, send: Send): Promise<void> {
  send('conversation_deleted', { conversation_id: conversationId });
  const fresh = await svc.store.createConversation({});
  await showConversation(svc, session, fresh, () => send('conversation_started', { conversation_id: fresh.id, title: fresh.title }));
}

/**
 * The fanout saw the deletion of a conversation the socket shows. Queued with the socket's requests, so it
 * lands between them: by then the socket that deleted it has been moved by its own request, and a socket
 * may have moved elsewhere or closed; those stay where they are.
 */
export function followDeletion(svc: EdgeServices, session: Session, conversationId: string): void {
  session.enqueue(async () => {
    if (session.closed || session.conversationId !== conversationId) return;
    await leaveDeleted(svc, session, conversationId, (type, data) => session.send(type, data)).catch((err) =>
      svc.logger.warn({ err, session: session.id, conversation_id: conversationId }, 'could not move a socket off a deleted conversation'),
    );
  });
}

/** The conversation a new socket starts on: the one it asks for if it exists, else a new one. */
export async function initialConversation(svc: EdgeServices, requested: string | null): Promise<Conversation> {
  if (requested) {
    const existing = await svc.store.getConversation(requested);
    if (existing) return existing;
  }
  return svc.store.createConversation({});
}
