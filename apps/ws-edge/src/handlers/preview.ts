import type { VoiceDraft } from '@chorus/contracts';
import type { Handler } from '../context.js';
import { readTtsEngines } from '../tts-engines.js';

/**
 * Speaks a line in a stored or unsaved voice to the asking socket only: `voice_preview`, then its audio.
 * The tts-worker checks the voice; what it refuses comes back as `error` for this request.
 */
export const previewVoice: Handler<'preview_voice'> = async (ctx, data) => {
  const voice = data.voice ? unsaved(data.voice) : await ctx.store.getVoice(data.voice_id!);
  if (!voice) {
    return ctx.fail('not_found', `No voice with id ${data.voice_id}: get_voices lists the stored voices, or send voice {engine, params} to preview an unsaved one.`);
  }
  if (!(await ctx.speakers.isAlive())) {
    return ctx.fail('tts_unavailable', 'Voice preview needs a tts-worker and none is running: start one (node apps/tts-worker/dist/main.js), then try again.');
  }
  const { id, name, engine, params } = voice;
  await ctx.previews.start(ctx.session, { id, name, engine, params }, data.text, (message_id) => ctx.reply('voice_preview', { message_id }), ctx.fail, ctx.requestId);
};

/** The voice editor's form as a voice: it has no id, and maybe no name yet. */
function unsaved(draft: VoiceDraft) {
  return { id: 'unsaved', name: draft.name ?? `Unsaved ${draft.engine} voice`, engine: draft.engine, params: draft.params ?? {} };
}

export const getTtsEngines: Handler<'get_tts_engines'> = async (ctx) => {
  ctx.reply('tts_engines_data', await readTtsEngines(ctx.redis));
};
