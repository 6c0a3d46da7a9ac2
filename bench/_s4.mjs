import { fliteWav, joinPcm, silence } from '@chorus/testkit';
import { createPocketsphinxEngine } from '@chorus/stt-worker';
const eng = createPocketsphinxEngine({});
const sleep = (ms) => new Promise(r => setTimeout(r, Math.max(0, ms)));
await sleep(1500);
const texts = ['Alice, what is the weather like on Mars?', 'Alice, tell me about the red planet.', 'Alice, how far away is the moon?', 'Alice, what time is it on Mars?', 'Alice, where do you live?', 'Hello Alice, what is the weather like on Mars?', 'Tell me, Alice, what is the weather like on Mars?'];
for (const v of process.argv.slice(2)) for (const t of texts) {
  const { pcm: sp } = await fliteWav(t, v);
  const res = [];
  for (const off of [0, 100, 200, 300, 420]) {
    const pcm = joinPcm(silence(300), new Int16Array(off), sp, silence(550));
    res.push(await eng.transcribe(pcm, { vocabulary: ['Alice', 'Bob'] }));
  }
  console.log(v, res.filter(r => r.split(' ').includes('alice')).length, '/5', t, '|', [...new Set(res)].join(' | '));
}
await eng.close();
