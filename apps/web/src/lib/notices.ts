// Server error codes as notices a person can act on: a short title and what to do next.

export interface Notice {
  id: number;
  level: 'error' | 'warning' | 'info';
  title: string;
  text: string;
  /** What to do, when the server's message does not already say it. */
  hint?: string;
  /** A view of the app that fixes it. */
  action?: { label: string; view: string };
}

const VOICE_FIX = { label: 'Open Characters', view: 'characters' };

const byCode: Record<string, Omit<Notice, 'id' | 'text'>> = {
  llm_not_configured: {
    level: 'error', title: 'No language model configured',
    hint: 'Set LLM_API_KEY (and LLM_BASE_URL, LLM_MODEL for a non-OpenRouter endpoint) in .env, then restart the stack.',
  },
  llm_auth: { level: 'error', title: 'The model endpoint refused the API key', hint: 'Check LLM_API_KEY in .env and restart the llm-worker.' },
  llm_rate_limited: { level: 'warning', title: 'The model endpoint is rate limiting', hint: 'Wait a moment and send the message again.' },
  llm_unavailable: { level: 'error', title: 'The model endpoint failed', hint: 'Try again; if it keeps failing, check the endpoint or pick another model in Settings.' },
  llm_timeout: { level: 'error', title: 'The model did not answer in time', hint: 'Try again, or pick a faster model in Settings.' },
  llm_unreachable: { level: 'error', title: 'The model endpoint is unreachable', hint: 'Check LLM_BASE_URL and that the model server is running.' },
  llm_bad_request: { level: 'error', title: 'The model endpoint refused the request', hint: 'Check the model name and sampling values in Settings.' },
  llm_stream_failed: { level: 'error', title: 'The reply broke off', hint: 'Send the message again.' },
  llm_empty_reply: { level: 'warning', title: 'An empty reply', hint: 'Send the message again, or pick another model in Settings.' },
  no_characters: { level: 'warning', title: 'No character can answer', hint: 'Make at least one character active.', action: { label: 'Open Characters', view: 'characters' } },
  tts_failed: { level: 'warning', title: 'A voice failed', hint: 'The reply is shown as text. Preview the voice or pick another one.', action: VOICE_FIX },
  tts_voice_invalid: { level: 'warning', title: 'A voice cannot be used', hint: 'Pick another voice for that character.', action: VOICE_FIX },
  tts_unavailable: { level: 'warning', title: 'Speech is unavailable', hint: 'Start a tts-worker (npm start does), or pick a voice whose engine is available.', action: { label: 'Open Voices', view: 'voices' } },
  stt_unavailable: { level: 'warning', title: 'Voice input is unavailable', hint: 'Start an stt-worker (npm start does when pocketsphinx is installed); you can still type.' },
  stt_failed: { level: 'warning', title: 'Transcription failed', hint: 'Say it again, or type it.' },
  not_found: { level: 'warning', title: 'Not found', hint: 'It may have been deleted in another window; the lists were refreshed.' },
  too_large: { level: 'warning', title: 'Too large' },
  invalid_message: { level: 'warning', title: 'Not accepted' },
  turn_queue_full: { level: 'warning', title: 'Too many messages waiting' },
  turn_expired: { level: 'warning', title: 'Message not answered' },
  turn_abandoned: { level: 'error', title: 'Message not answered' },
  internal: { level: 'error', title: 'Server error', hint: 'Try again; the server log has the details.' },
};

let seq = 0;

export function noticeFor(code: string, text: string): Notice {
  const known = byCode[code] ?? { level: 'error' as const, title: 'Something went wrong' };
  return { id: ++seq, text, ...known };
}

export function notice(level: Notice['level'], title: string, text: string, hint?: string): Notice {
  return { id: ++seq, level, title, text, hint };
}
