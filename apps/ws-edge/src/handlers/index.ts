import type { HandlerTable } from '../context.js';
import * as catalog from './catalog.js';
import * as chat from './chat.js';
import * as conv from './conversations.js';
import * as preview from './preview.js';
import * as voice from './voice.js';

/** One small handler per client message type (PROTOCOL.md). */
export const handlers: HandlerTable = {
  ping: chat.ping,
  user_message: chat.userMessage,
  start_listening: voice.startListening,
  stop_listening: voice.stopListening,
  interrupt: chat.interrupt,
  model_settings: chat.modelSettings,
  clear_history: conv.clearHistory,
  new_conversation: conv.newConversation,
  open_conversation: conv.openConversation,
  get_conversations: conv.getConversations,
  get_messages: conv.getMessages,
  delete_conversation: conv.deleteConversation,
  refresh_characters: catalog.refreshCharacters,
  refresh_active_characters: catalog.refreshCharacters,
  get_characters: catalog.getCharacters,
  create_character: catalog.createCharacter,
  update_character: catalog.updateCharacter,
  delete_character: catalog.deleteCharacter,
  get_voices: catalog.getVoices,
  create_voice: catalog.createVoice,
  update_voice: catalog.updateVoice,
  delete_voice: catalog.deleteVoice,
  preview_voice: preview.previewVoice,
  get_tts_engines: preview.getTtsEngines,
};
