import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;

export interface TinyKokoroModelOptions {
  /** Samples per phoneme token at speed 1 (24 kHz). Default 1200 (50 ms), short enough for quick tests. */
  samplesPerToken?: number;
  /**
   * true (default): symbolic batch dim, `speed` [batch], outputs `waveform` [batch, S] and per-item `lengths`
   * [batch], so an engine may batch. false: shaped like the real Kokoro export (batch fixed at 1, `speed` [1],
   * `waveform` [N], no lengths), so an engine must run requests one by one.
   */
  batchable?: boolean;
  /** Name of the token input: `input_ids` (onnx-community export, default) or `tokens` (kokoro-onnx export). */
  tokenInputName?: 'input_ids' | 'tokens';
  /** Voice files written as `<voicesDir>/<name>.bin`. Default ['af_test', 'bf_test']. */
  voices?: string[];
  /** File name of the model inside `dir`. Default 'tiny-kokoro.onnx'. */
  fileName?: string;
}

export interface TinyKokoroModel {
  modelPath: string;
  voicesDir: string;
  samplesPerToken: number;
}

const SAMPLE_RATE = 24_000;
const STYLE_DIM = 256;
const STYLE_ROWS = 510;

type Dim = number | string;

function valueInfo(name: string, elemType: number, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function floatConst(name: string, values: number[], dims: number[] = []): onnxProto.onnx.ITensorProto {
  return { name, dataType: DataType.FLOAT, dims, floatData: values };
}

function intConst(name: string, values: number[], dims: number[] = []): onnxProto.onnx.ITensorProto {
  return { name, dataType: DataType.INT64, dims, int64Data: values };
}

function node(
  opType: string,
  input: string[],
  output: string,
  attrs: Record<string, number | number[]> = {},
): onnxProto.onnx.INodeProto {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    Array.isArray(v)
      ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
      : { name, type: onnx.AttributeProto.AttributeType.INT, i: v },
  );
  return { opType, input, output: [output], name: `${opType}_${output}`, attribute };
}

/**
 * Builds a tiny ONNX model with Kokoro's signature (opset 17, standard ops only) and writes it with voice style
 * files. It "speaks" one sine tone per token: every non-pad token (id > 0) lasts `samplesPerToken / speed`
 * samples and sounds at 120 + 4·id + 50·mean(style) Hz, so audio is non-silent, grows with the token count,
 * shrinks with speed, and differs between voices.
 */
export async function buildTinyKokoroModel(dir: string, opts: TinyKokoroModelOptions = {}): Promise<TinyKokoroModel> {
  const spt = opts.samplesPerToken ?? 1200;
  const batchable = opts.batchable ?? true;
  const ids = opts.tokenInputName ?? 'input_ids';
  const voices = opts.voices ?? ['af_test', 'bf_test'];
  const batch: Dim = batchable ? 'batch' : 1;

  const initializer = [
    intConst('zero_i', [0]),
    intConst('one_i', [1]),
    intConst('axis0', [0], [1]),
    intConst('axis1', [1], [1]),
    floatConst('spt', [spt]),
    floatConst('f_base', [120]),
    floatConst('f_per_id', [4]),
    floatConst('f_per_style', [50]),
    floatConst('omega', [(2 * Math.PI) / SAMPLE_RATE]),
    floatConst('amp', [0.3]),
  ];

  const nodes: onnxProto.onnx.INodeProto[] = [
    // Per item: number of real tokens (Kokoro pads both ends with id 0) and its length in samples.
    node('Greater', [ids, 'zero_i'], 'is_tok'),
    node('Cast', ['is_tok'], 'is_tok_f', { to: DataType.FLOAT }),
    node('ReduceSum', ['is_tok_f', 'axis1'], 'n_tok', { keepdims: 0 }), // [B]
    node('Mul', ['n_tok', 'spt'], 'n_samples_1x'),
    node('Div', ['n_samples_1x', 'speed'], 'n_samples_f'),
    node('Floor', ['n_samples_f'], 'n_samples_floor'),
    node('Cast', ['n_samples_floor'], 'lengths', { to: DataType.INT64 }), // [B]
    // Width of the batch output = the longest item; s = sample index 0..W-1.
    node('ReduceMax', ['lengths'], 'width', { keepdims: 0 }), // scalar
    node('Range', ['zero_i', 'width', 'one_i'], 's_i'), // [W]
    node('Unsqueeze', ['s_i', 'axis0'], 's_row_i'), // [1, W]
    node('Cast', ['s_row_i'], 's_row', { to: DataType.FLOAT }),
    node('Unsqueeze', ['speed', 'axis1'], 'speed_col'), // [B, 1]
    // Which token each sample belongs to: 1 + floor(s·speed / spt), clamped to the last column.
    node('Mul', ['s_row', 'speed_col'], 's_scaled'),
    node('Div', ['s_scaled', 'spt'], 'tok_pos_f'),
    node('Floor', ['tok_pos_f'], 'tok_pos_floor'),
    node('Cast', ['tok_pos_floor'], 'tok_pos_0', { to: DataType.INT64 }),
    node('Add', ['tok_pos_0', 'one_i'], 'tok_pos_1'),
    node('Shape', [ids], 'ids_shape'),
    node('Gather', ['ids_shape', 'one_i'], 'seq_len', { axis: 0 }), // scalar T
    node('Sub', ['seq_len', 'one_i'], 'last_col'),
    node('Min', ['tok_pos_1', 'last_col'], 'tok_pos'), // [B, W]
    node('GatherElements', [ids, 'tok_pos'], 'tok_id', { axis: 1 }), // [B, W]
    node('Cast', ['tok_id'], 'tok_id_f', { to: DataType.FLOAT }),
    // Frequency per sample from the token id and the voice's style mean.
    node('ReduceMean', ['style'], 'style_mean', { axes: [1], keepdims: 1 }), // [B, 1]
    node('Mul', ['tok_id_f', 'f_per_id'], 'f_tok'),
    node('Mul', ['style_mean', 'f_per_style'], 'f_style'),
    node('Add', ['f_tok', 'f_style'], 'f_sum'),
    node('Add', ['f_sum', 'f_base'], 'freq'), // [B, W]
    node('Mul', ['s_row', 'omega'], 'w_s'),
    node('Mul', ['w_s', 'freq'], 'phase'),
    node('Sin', ['phase'], 'tone'),
    node('Mul', ['tone', 'amp'], 'tone_amp'),
    // Zero every sample past an item's own length (shorter items in a batch).
    node('Unsqueeze', ['lengths', 'axis1'], 'len_col'), // [B, 1]
    node('Less', ['s_row_i', 'len_col'], 'in_item'),
    node('Cast', ['in_item'], 'in_item_f', { to: DataType.FLOAT }),
    node('Mul', ['tone_amp', 'in_item_f'], batchable ? 'waveform' : 'waveform_b'),
  ];
  // The real Kokoro export squeezes the batch away: waveform [N].
  if (!batchable) nodes.push(node('Squeeze', ['waveform_b', 'axis0'], 'waveform'));

  const outputs = [valueInfo('waveform', DataType.FLOAT, batchable ? ['batch', 'samples'] : ['samples'])];
  if (batchable) outputs.push(valueInfo('lengths', DataType.INT64, ['batch']));

  const model = onnx.ModelProto.encode({
    irVersion: 8,
    producerName: '@chorus/testkit',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_kokoro',
      node: nodes,
      initializer,
      input: [
        valueInfo(ids, DataType.INT64, [batch, 'tokens']),
        valueInfo('style', DataType.FLOAT, [batch, STYLE_DIM]),
        valueInfo('speed', DataType.FLOAT, [batch]),
      ],
      output: outputs,
    },
  }).finish();

  await mkdir(dir, { recursive: true });
  const modelPath = join(dir, opts.fileName ?? 'tiny-kokoro.onnx');
  await writeFile(modelPath, model);

  // Voice files: float32 [510, 1, 256] like Kokoro's; each voice gets its own constant level per row.
  const voicesDir = join(dir, 'voices');
  await mkdir(voicesDir, { recursive: true });
  for (const [i, name] of voices.entries()) {
    const data = new Float32Array(STYLE_ROWS * STYLE_DIM);
    for (let row = 0; row < STYLE_ROWS; row++) data.fill(0.5 + i * 0.5 + row / 1000, row * STYLE_DIM, (row + 1) * STYLE_DIM);
    await writeFile(join(voicesDir, `${name}.bin`), new Uint8Array(data.buffer));
  }
  return { modelPath, voicesDir, samplesPerToken: spt };
}
