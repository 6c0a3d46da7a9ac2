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

/** Why a character may not be called `name`: it must reach one character when addressed (`@Name`), and not the user. */
async function nameRefused(ctx: RequestContext, name: string | undefined, id?: string): Promise<string | null> {
  if (name === undefined) return null;
  const key = (n: string) => n.trim().replace(/\s+/g, ' ').toLowerCase();
  if (key(name) === key(ctx.config.USER_NAME)) return `name: "${name.trim()}" is the user's name in this conversation (USER_NAME); pick another.`;
  const taken = (await ctx.store.listCharacters()).find((c) => c.id !== id && key(c.name) === key(name));
  return taken ? `name: another character is already called "${taken.name}"; each needs its own name, so that @${taken.name} reaches one of them.` : null;
}

export const createCharacter: Handler<'create_character'> = async (ctx, data) => {
  const refused = await nameRefused(ctx, data.name, data.id);
  if (refused) return ctx.fail('invalid_message', refused);
  const character = await ctx.store.createCharacter(data);
  await ctx.state.publishCatalog();
  ctx.reply('character_created', character);
};

export const updateCharacter: Handler<'update_character'> = async (ctx, data) => {
  const refused = await nameRefused(ctx, data.name, data.id);
  if (refused) return ctx.fail('invalid_message', refused);
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
