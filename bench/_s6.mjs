import { fliteWav, joinPcm, silence } from '@chorus/testkit';
import { createPocketsphinxEngine, SileroVad } from '@chorus/stt-worker';
const eng = createPocketsphinxEngine({});
const sleep = (ms) => new Promise(r => setTimeout(r, Math.max(0, ms)));
await sleep(1500);
const texts = process.argv.slice(2);
const vad = await SileroVad.create({});
for (const t of texts) { const outs = []; for (let k = 0; k < 8; k++) {
  const pre = (k * 320) % 512;
  const { pcm: sp } = await fliteWav(t, 'slt');
  const all = joinPcm(silence(1000), new Int16Array(pre), silence(300), sp, silence(1000));
  let rec; const fin = [];
  for (let i = 0; i < all.length; i += 320) {
    for (const e of await vad.process(all.subarray(i, i + 320))) {
      if (e.type === 'speech_start') { rec = eng.stream({ vocabulary: ['Alice', 'Bob'] }); rec.write(e.audio); }
      else if (e.type === 'speech_audio') rec.write(e.audio);
      else if (e.type === 'speech_end') fin.push(rec.finish());
    }
    await sleep(3);
  }
  outs.push((await Promise.all(fin)).join(' | '));
  }
  console.log(outs.filter(o => o.split(' ').includes('alice')).length, '/8', t, '|', [...new Set(outs)].join(' | '));
}
await eng.close();
