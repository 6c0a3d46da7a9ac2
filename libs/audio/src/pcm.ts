/**
 * PCM16 mono utilities: resampling (one-shot and streaming, same result), re-chunking for the wire,
 * little-endian bytes and base64, duration and level.
 */

// ---------------------------------------------------------------------------------------------------------
// Resampling: windowed sinc (Kaiser), polyphase. Output sample k sits at input time t = k * from / to; it is
// the sum of the input samples around t weighted by a low-pass kernel whose cutoff is just below the lower
// of the two Nyquist frequencies, so downsampling does not alias and upsampling does not image.

/** Zero crossings of the sinc on each side of the centre: the kernel's length, in cutoff periods. */
const ZERO_CROSSINGS = 16;
/** Cutoff as a fraction of the lower Nyquist frequency: the transition band sits just below it. */
const ROLLOFF = 0.945;
/** Kaiser window shape: about 85 dB stop-band attenuation. */
const KAISER_BETA = 8.6;
/** Phase tables above this many phases (exotic rate pairs) are computed per sample instead of stored. */
const MAX_TABLE_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (power series), for the Kaiser window. */
function besselI0(x: number): number {
  const q = (x * x) / 4;
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-15) break;
  }
  return sum;
}

function checkRate(name: string, rate: number): void {
  if (!Number.isInteger(rate) || rate <= 0) throw new RangeError(`${name} must be a positive integer, got ${rate}`);
}

/** The filter for one rate pair: `step`/`phases` is from/to in lowest terms; `taps` weights per phase. */
class SincKernel {
  /** Input samples advanced per output sample, as step / phases. */
  readonly step: number;
  readonly phases: number;
  /** Kernel half-width in whole input samples; each output reads 2 * half inputs. */
  readonly half: number;
  private readonly cutoff: number;
  private readonly width: number;
  private readonly i0Beta = besselI0(KAISER_BETA);
  private readonly table: Float64Array | null;

  constructor(fromRate: number, toRate: number) {
    const g = gcd(fromRate, toRate);
    this.step = fromRate / g;
    this.phases = toRate / g;
    this.cutoff = ROLLOFF * Math.min(1, toRate / fromRate); // relative to the input Nyquist frequency
    this.width = ZERO_CROSSINGS / this.cutoff; // in input samples
    this.half = Math.ceil(this.width);
    if (this.phases <= MAX_TABLE_PHASES) {
      this.table = new Float64Array(this.phases * 2 * this.half);
      for (let p = 0; p < this.phases; p++) this.table.set(this.compute(p), p * 2 * this.half);
    } else {
      this.table = null;
    }
  }

  /**
   * Weights for output phase p (t = i0 + p / phases), applied to inputs i0 - half + 1 … i0 + half: the
   * returned array holds them from the returned offset on (no per-sample allocation on the table path).
   */
  weights(p: number): [Float64Array, number] {
    return this.table ? [this.table, p * 2 * this.half] : [this.compute(p), 0];
  }

  private compute(p: number): Float64Array {
    const n = 2 * this.half;
    const w = new Float64Array(n);
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const d = p / this.phases + this.half - 1 - j; // distance from t to the input sample
      const x = d / this.width;
      if (Math.abs(x) >= 1) continue;
      const arg = Math.PI * this.cutoff * d;
      const sinc = arg === 0 ? 1 : Math.sin(arg) / arg;
      const v = this.cutoff * sinc * (besselI0(KAISER_BETA * Math.sqrt(1 - x * x)) / this.i0Beta);
      w[j] = v;
      sum += v;
    }
    // Unit gain at DC for every phase, so a constant stays exactly constant.
    for (let j = 0; j < n; j++) w[j] = w[j]! / sum;
    return w;
  }
}

function clamp16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/**
 * Chunk-by-chunk resampler. The concatenation of every push() and the final flush() equals
 * resamplePcm16() of the concatenated input, sample for sample: each output is computed from the same
 * inputs with the same weights, whatever the chunking. Output lags input by the kernel's half-width
 * (about 1 ms). flush() ends the stream (the input is taken as silence after its end) and readies the
 * resampler for a new one.
 */
export class StreamingResampler {
  private readonly kernel: SincKernel | null;
  /** Retained input: absolute index of history[0], and the samples still needed. */
  private historyStart = 0;
  private history = new Int16Array(0);
  /** Input samples received in this stream. */
  private total = 0;
  /** Next output: the input index at or before its time, and its phase; outputs made so far. */
  private index = 0;
  private phase = 0;
  private produced = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    checkRate('fromRate', fromRate);
    checkRate('toRate', toRate);
    this.kernel = fromRate === toRate ? null : new SincKernel(fromRate, toRate);
  }

  push(chunk: Int16Array): Int16Array {
    if (!this.kernel) return chunk.slice();
    const kept = this.history.length;
    const joined = new Int16Array(kept + chunk.length);
    joined.set(this.history);
    joined.set(chunk, kept);
    this.history = joined;
    this.total += chunk.length;
    // An output is ready once the last input under its kernel has arrived.
    const out = this.produce(this.total - this.kernel.half, Infinity);
    const drop = Math.max(0, this.index - this.kernel.half + 1 - this.historyStart);
    if (drop > 0) {
      this.history = this.history.slice(Math.min(drop, this.history.length));
      this.historyStart += drop;
    }
    return out;
  }

  flush(): Int16Array {
    if (!this.kernel) return new Int16Array(0);
    const target = Math.round((this.total * this.kernel.phases) / this.kernel.step);
    const out = this.produce(Infinity, target);
    this.history = new Int16Array(0);
    this.historyStart = this.total = this.index = this.phase = this.produced = 0;
    return out;
  }

  /** Makes outputs while their index is below `indexLimit` and fewer than `countLimit` exist. */
  private produce(indexLimit: number, countLimit: number): Int16Array {
    const k = this.kernel!;
    const bound = Math.min(
      countLimit - this.produced,
      Math.ceil(((Math.max(0, Math.min(indexLimit, this.total + k.half) - this.index) + 1) * k.phases) / k.step) + 1,
    );
    if (bound <= 0) return new Int16Array(0);
    const out = new Int16Array(bound);
    const h = this.history;
    const taps = 2 * k.half;
    let n = 0;
    while (n < bound && this.index < indexLimit && this.produced < countLimit) {
      const [w, base] = k.weights(this.phase);
      const first = this.index - k.half + 1 - this.historyStart; // position of tap 0 in history
      const lo = Math.max(0, -first);
      const hi = Math.min(taps, h.length - first); // inputs outside [0, total) are silence
      let acc = 0;
      for (let j = lo; j < hi; j++) acc += w[base + j]! * h[first + j]!;
      out[n++] = clamp16(acc);
      this.produced++;
      this.phase += k.step;
      if (this.phase >= k.phases) {
        this.index += Math.floor(this.phase / k.phases);
        this.phase %= k.phases;
      }
    }
    return n === bound ? out : out.slice(0, n);
  }
}

/**
 * Resamples PCM16 mono from `fromRate` to `toRate` (Hz, positive integers). Output length is
 * round(n * toRate / fromRate); equal rates return a copy.
 */
export function resamplePcm16(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  const r = new StreamingResampler(fromRate, toRate);
  const head = r.push(input);
  const tail = r.flush();
  if (!tail.length) return head;
  const out = new Int16Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Re-chunking for the wire.

export interface PcmChunkerOptions {
  /** Size of the first chunk of a stream (e.g. 40 ms, so playback starts early); default maxSamples. */
  firstChunkSamples?: number;
}

/**
 * Re-chunks a stream of PCM into chunks of at most `maxSamples`: full chunks as soon as they are full,
 * the remainder on flush(). The first chunk of each stream may be smaller (`firstChunkSamples`).
 * Emitted chunks are copies, never views of the caller's buffers. flush() ends the stream.
 */
export class PcmChunker {
  readonly firstChunkSamples: number;
  private readonly pending: Int16Array;
  private fill = 0;
  private first = true;

  constructor(
    readonly maxSamples: number,
    options: PcmChunkerOptions = {},
  ) {
    if (!Number.isInteger(maxSamples) || maxSamples < 1) throw new RangeError(`maxSamples must be a positive integer, got ${maxSamples}`);
    const firstSize = options.firstChunkSamples ?? maxSamples;
    if (!Number.isInteger(firstSize) || firstSize < 1 || firstSize > maxSamples) {
      throw new RangeError(`firstChunkSamples must be an integer in 1..${maxSamples}, got ${firstSize}`);
    }
    this.firstChunkSamples = firstSize;
    this.pending = new Int16Array(maxSamples);
  }

  push(chunk: Int16Array): Int16Array[] {
    const out: Int16Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const size = this.first ? this.firstChunkSamples : this.maxSamples;
      const take = Math.min(size - this.fill, chunk.length - offset);
      if (this.fill === 0 && take === size) {
        out.push(chunk.slice(offset, offset + size)); // a whole chunk straight from the input
      } else {
        this.pending.set(chunk.subarray(offset, offset + take), this.fill);
        this.fill += take;
        if (this.fill < size) break;
        out.push(this.pending.slice(0, size));
        this.fill = 0;
      }
      offset += take;
      this.first = false;
    }
    return out;
  }

  /** The samples still held (null when none); the next push() starts a new stream. */
  flush(): Int16Array | null {
    const rest = this.fill ? this.pending.slice(0, this.fill) : null;
    this.fill = 0;
    this.first = true;
    return rest;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bytes: PCM16 little-endian on the wire whatever the host's byte order.

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian bytes of the samples (a view of the same memory on little-endian hosts). */
export function pcm16ToBytes(pcm: Int16Array): Buffer {
  if (HOST_LITTLE_ENDIAN) return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const out = Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i]!, i * 2);
  return out;
}

/**
 * Samples from little-endian bytes, copied into a fresh aligned array: a Buffer from Node's pool may start
 * at an odd byteOffset, where an Int16Array view would throw. Throws on an odd byte count.
 */
export function bytesToPcm16(bytes: Uint8Array): Int16Array {
  if (bytes.length % 2) throw new RangeError(`PCM16 needs an even number of bytes, got ${bytes.length}`);
  const out = new Int16Array(bytes.length / 2);
  if (HOST_LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  }
  return out;
}

export function pcm16ToBase64(pcm: Int16Array): string {
  return pcm16ToBytes(pcm).toString('base64');
}

export function base64ToPcm16(base64: string): Int16Array {
  return bytesToPcm16(Buffer.from(base64, 'base64'));
}

/**
 * Decodes a byte stream (e.g. an HTTP body of raw PCM16) whose chunks may split a sample: an odd trailing
 * byte is carried into the next push().
 */
export class Pcm16ByteDecoder {
  private carry: number | null = null;

  push(bytes: Uint8Array): Int16Array {
    let src = bytes;
    if (this.carry !== null) {
      src = new Uint8Array(bytes.length + 1);
      src[0] = this.carry;
      src.set(bytes, 1);
      this.carry = null;
    }
    if (src.length % 2) {
      this.carry = src[src.length - 1]!;
      src = src.subarray(0, src.length - 1);
    }
    return bytesToPcm16(src);
  }

  /** Ends the stream; returns the number of bytes dropped (1 when the stream ended mid-sample). */
  flush(): number {
    const dropped = this.carry === null ? 0 : 1;
    this.carry = null;
    return dropped;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Measures.

export function durationMs(samples: number, rate: number): number {
  return (samples * 1000) / rate;
}

/** Root-mean-square level relative to full scale: 0 (silence) … 1 (full-scale square wave). */
export function rmsLevel(pcm: Int16Array): number {
  if (!pcm.length) return 0;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  return Math.sqrt(sum / pcm.length) / 32768;
}
