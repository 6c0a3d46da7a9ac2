import type { Handler, RequestContext } from '../context.js';

// Every change republishes the snapshot the workers read, so it applies to the next turn.

export const getCharacters: Handler<'get_characters'> = async (ctx) => {
  ctx.reply('characters_data', await ctx.store.listCharacters());
};

/** Serves both `refresh_characters` and `refresh_active_characters`. */
export const refreshCharacters = async (ctx: RequestContext) => {
  await ctx.state.publishCatalog();
  ctx.reply('characters_data', await ctx.store.listCharacters());
};

export const createCharacter: Handler<'create_character'> = async (ctx, data) => {
  const character = await ctx.store.createCharacter(data);
  await ctx.state.publishCatalog();
  ctx.reply('character_created', character);
};

export const updateCharacter: Handler<'update_character'> = async (ctx, data) => {
  const character = await ctx.store.updateCharacter(data);
  if (!character) return ctx.fail('not_found', `No character with id ${data.id}.`);
  await ctx.state.publishCatalog();
  ctx.reply('character_updated', character);
};

export const deleteCharacter: Handler<'delete_character'> = async (ctx, { id }) => {
  if (!(await ctx.store.deleteCharacter(id))) return ctx.fail('not_found', `No character with id ${id}.`);
  await ctx.state.publishCatalog();
  ctx.reply('character_deleted', { id });
};

export const getVoices: Handler<'get_voices'> = async (ctx) => {
  ctx.reply('voices_data', await ctx.store.listVoices());
};

export const createVoice: Handler<'create_voice'> = async (ctx, data) => {
  const voice = await ctx.store.createVoice(data);
  await ctx.state.publishCatalog();
  ctx.reply('voice_created', voice);
};

export const updateVoice: Handler<'update_voice'> = async (ctx, data) => {
  const voice = await ctx.store.updateVoice(data);
  if (!voice) return ctx.fail('not_found', `No voice with id ${data.id}.`);
  await ctx.state.publishCatalog();
  ctx.reply('voice_updated', voice);
};

export const deleteVoice: Handler<'delete_voice'> = async (ctx, { id }) => {
  if (!(await ctx.store.deleteVoice(id))) return ctx.fail('not_found', `No voice with id ${id}.`);
  await ctx.state.publishCatalog();
  ctx.reply('voice_deleted', { id });
};
