import { fliteWav, resampleLinear } from '@chorus/testkit';
import { createPocketsphinxEngine } from '@chorus/stt-worker';
const texts = ['Alice, what is the weather like on Mars?', 'Alice, tell me about the red planet.', 'Alice, how far away is the moon?',
 'Alice, what time is it on Mars?', 'Alice, can you tell me a story?', 'Alice, what is your favourite colour?', 'Alice, where do you live?', 'Alice, please tell me more about the stars.'];
const eng = createPocketsphinxEngine({});
await new Promise(r => setTimeout(r, 1500));
for (const v of ['rms', 'slt', 'kal16', 'awb']) for (const t of texts) {
  const { pcm, sampleRate } = await fliteWav(t, v);
  const p = resampleLinear(pcm, sampleRate, 16000);
  let t0 = performance.now();
  const txt = await eng.transcribe(p, { vocabulary: ['Alice', 'Bob'] });
  console.log(v, sampleRate, (performance.now() - t0).toFixed(0), (p.length/16).toFixed(0), '|', t, '|', txt);
}
await eng.close();
