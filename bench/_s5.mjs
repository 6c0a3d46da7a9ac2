import { fliteWav, joinPcm, silence } from '@chorus/testkit';
import { createPocketsphinxEngine, SileroVad } from '@chorus/stt-worker';
const eng = createPocketsphinxEngine({});
const sleep = (ms) => new Promise(r => setTimeout(r, Math.max(0, ms)));
await sleep(1500);
const texts = ['Alice, what is the weather like on Mars?', 'Alice, tell me about the red planet.', 'Alice, how far away is the moon?'];
const vad = await SileroVad.create({});
for (const t of texts) for (const pre of [0, 100, 260]) {
  const { pcm: sp } = await fliteWav(t, 'slt');
  const all = joinPcm(silence(1000), new Int16Array(pre * 16), silence(300), sp, silence(1500));
  let rec; let got;
  const fin = [];
  for (let i = 0; i < all.length; i += 320) {
    for (const e of await vad.process(all.subarray(i, i + 320))) {
      if (e.type === 'speech_start') { rec = eng.stream({ vocabulary: ['Alice', 'Bob'] }); rec.write(e.audio); console.log('start', e.startMs, e.audio.length); }
      else if (e.type === 'speech_audio') rec.write(e.audio);
      else if (e.type === 'speech_end') { fin.push(rec.finish()); console.log('end', e.endMs, e.audio.length); }
    }
    await sleep(5);
  }
  console.log(pre, t, '|', (await Promise.all(fin)).join(' | '));
}
await eng.close();
