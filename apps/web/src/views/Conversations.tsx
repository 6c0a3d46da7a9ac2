// Past conversations: open one (its history comes back), start a new one, delete.
import { useEffect } from 'preact/hooks';
import { notice } from '../lib/notices.js';
import { addNotice, conn, conversationId, conversations, newConversation, openConversation } from '../state.js';
import { errorText } from './common.js';

const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function Conversations() {
  useEffect(() => void conn.send('get_conversations'), []); // message counts move on while the chat runs
  const list = [...conversations.value].sort((a, b) => b.updated_at.localeCompare(a.updated_at));
  return (
    <section class="page" aria-labelledby="conversations-h">
      <div class="page-head">
        <h2 id="conversations-h">Conversations</h2>
        <button type="button" class="primary" id="new-conversation" onClick={() => { newConversation(); }}>New conversation</button>
      </div>
      <ul class="cards" id="conversation-list">
        {list.map((c) => (
          <li key={c.id} class={`card${c.id === conversationId.value ? ' current' : ''}`} data-conversation={c.id}>
            <div class="grow">
              <strong>{c.title || 'Untitled'}</strong> {c.id === conversationId.value && <span class="badge ok">open</span>}
              <div class="muted small">
                {c.message_count ?? 0} messages · {when(c.updated_at)}
              </div>
            </div>
            <div class="row">
              <button type="button" onClick={() => openConversation(c.id)}>Open</button>
              <button type="button" class="danger" onClick={() => remove(c.id, c.title)}>Delete</button>
            </div>
          </li>
        ))}
        {!list.length && <li class="muted">No conversations yet.</li>}
      </ul>
    </section>
  );
}

async function remove(id: string, title: string): Promise<void> {
  if (!confirm(`Delete “${title || 'Untitled'}” and all its messages?`)) return;
  try {
    await conn.request('delete_conversation', { conversation_id: id });
  } catch (err) {
    addNotice(notice('error', 'Could not delete the conversation', errorText(err)));
  }
}
