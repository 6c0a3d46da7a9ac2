// Audio worklets of the web app, loaded with audioWorklet.addModule: speech playback and mic capture.
// One module holds both, so the single AudioContext adds one module once.

const PREBUFFER = Math.round(sampleRate * 0.06); // jitter buffer: start a message once 60 ms are queued
const CAP = sampleRate * 60;                     // keep at most 60 s queued so memory stays bounded
const REPORT = Math.round(sampleRate * 0.05);    // progress report every ~50 ms of output

class ChorusPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];       // segments in arrival order: {id, data, off} or the end marker {id, end: true}
    this.msgs = new Map(); // id -> {queued, ended}
    this.queued = 0;       // samples waiting, all messages
    this.cur = null;       // message at the head of the timeline
    this.played = 0;       // samples of cur output so far
    this.ready = false;    // cur has its prebuffer (reset on underrun so a stall re-buffers)
    this.nonSilent = 0;
    this.messagesPlayed = 0;
    this.sinceReport = 0;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }
  msg(id) {
    let m = this.msgs.get(id);
    if (!m) this.msgs.set(id, (m = { queued: 0, ended: false }));
    return m;
  }
  onMessage(m) {
    if (m.type === 'push') {
      this.queue.push({ id: m.id, data: m.samples, off: 0 });
      this.msg(m.id).queued += m.samples.length;
      this.queued += m.samples.length;
      while (this.queued > CAP) this.dropOldest();
    } else if (m.type === 'end') {
      this.queue.push({ id: m.id, end: true });
      this.msg(m.id).ended = true;
    } else if (m.type === 'flush') { // interrupt: silence now
      this.queue = [];
      this.msgs.clear();
      this.queued = 0;
      this.cur = null;
      this.played = 0;
      this.ready = false;
      this.report('progress');
    }
  }
  dropOldest() {
    const i = this.queue.findIndex((s) => !s.end);
    const [s] = this.queue.splice(i, 1);
    const n = s.data.length - s.off;
    this.queued -= n;
    this.msg(s.id).queued -= n;
  }
  report(type) {
    this.sinceReport = 0;
    const playing = this.cur !== null && (this.ready || this.played > 0);
    this.port.postMessage({
      type, id: playing ? this.cur : null, ms: Math.round((this.played * 1000) / sampleRate),
      nonSilent: this.nonSilent, messagesPlayed: this.messagesPlayed,
    });
  }
  finish() {
    if (this.played > 0) this.messagesPlayed++;
    this.ready = true; // so the report names the finished message
    this.report('done');
    this.cur = null;
    this.played = 0;
    this.ready = false;
  }
  process(inputs, outputs) {
    const out = outputs[0][0];
    for (let i = 0; i < out.length; ) {
      const head = this.queue[0];
      if (!head) { // underrun: silence, and re-buffer before resuming
        out.fill(0, i);
        if (this.cur !== null && !this.msg(this.cur).ended) this.ready = false;
        break;
      }
      if (head.end) {
        this.queue.shift();
        const more = this.queue.some((s) => s.id === head.id);
        if (more) {
          // The socket dropped mid-message and the rest came after a reconnect: play on as one message.
          this.msg(head.id).ended = this.queue.some((s) => s.id === head.id && s.end);
          continue;
        }
        this.msgs.delete(head.id);
        if (head.id === this.cur) this.finish();
        continue;
      }
      if (head.id !== this.cur) { // next message (the previous one never announced its end)
        if (this.cur !== null) this.finish();
        this.cur = head.id;
      }
      const m = this.msgs.get(head.id);
      if (!this.ready) {
        if (m.queued < PREBUFFER && !m.ended) { out.fill(0, i); break; }
        this.ready = true;
        if (this.played === 0) this.report('progress'); // announce the start at once
      }
      const n = Math.min(out.length - i, head.data.length - head.off);
      out.set(head.data.subarray(head.off, head.off + n), i);
      for (let k = i; k < i + n; k++) if (out[k] > 0.01 || out[k] < -0.01) this.nonSilent++;
      head.off += n;
      i += n;
      this.played += n;
      m.queued -= n;
      this.queued -= n;
      if (head.off >= head.data.length) this.queue.shift();
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (this.cur !== null && (this.sinceReport += out.length) >= REPORT) this.report('progress');
    return true;
  }
}
registerProcessor('chorus-player', ChorusPlayer);

// Microphone: the context's rate -> 16 kHz mono PCM16, posted as transferred 20 ms frames (640 bytes).
const MIC_RATE = 16000, MIC_FRAME = 320;
class ChorusMic extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / MIC_RATE; // input samples per output sample
    // Anti-alias low-pass before decimating (Blackman-windowed sinc, cutoff 0.45 x the lower rate), so what is
    // above 8 kHz is not folded into the speech band; a single unity tap when not downsampling.
    const half = this.step > 1 ? Math.ceil(8 * this.step) : 0, fc = (0.45 * Math.min(sampleRate, MIC_RATE)) / sampleRate;
    const taps = (this.taps = new Float32Array(2 * half + 1));
    let sum = 0;
    for (let k = -half; k <= half; k++) {
      const w = 0.42 + 0.5 * Math.cos((Math.PI * k) / (half + 1)) + 0.08 * Math.cos((2 * Math.PI * k) / (half + 1));
      sum += taps[k + half] = (k ? Math.sin(2 * Math.PI * fc * k) / (Math.PI * k) : 2 * fc) * w;
    }
    for (let k = 0; k < taps.length; k++) taps[k] /= sum; // unity gain at DC
    this.hist = new Float32Array(2 * taps.length); // input history, written twice so each window is contiguous
    this.pos = 0;
    this.prev = 0; // last filtered sample
    this.t = 0;    // next output position, in input samples after prev (linear interpolation between them)
    this.frame = new Int16Array(MIC_FRAME);
    this.n = 0;
    this.on = true;
    this.port.onmessage = (e) => { if (e.data === 'stop') this.on = false; };
  }
  process(inputs) {
    const x = inputs[0] && inputs[0][0];
    if (!x || !this.on) return this.on; // nothing connected (yet): keep waiting
    const taps = this.taps, hist = this.hist, L = taps.length;
    for (let i = 0; i < x.length; i++) {
      hist[this.pos] = hist[this.pos + L] = x[i];
      this.pos = (this.pos + 1) % L;
      let y = 0;
      for (let k = 0; k < L; k++) y += taps[k] * hist[this.pos + k];
      for (; this.t < 1; this.t += this.step) this.emit(this.prev + (y - this.prev) * this.t);
      this.t -= 1;
      this.prev = y;
    }
    return true;
  }
  emit(v) {
    const s = v < -1 ? -1 : v > 1 ? 1 : v;
    this.frame[this.n++] = Math.round(s < 0 ? s * 32768 : s * 32767); // little-endian, as every browser platform is
    if (this.n === MIC_FRAME) {
      this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
      this.frame = new Int16Array(MIC_FRAME);
      this.n = 0;
    }
  }
}
registerProcessor('chorus-mic', ChorusMic);
