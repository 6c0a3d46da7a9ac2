import type { ErrorCode, ModelSettings } from '@chorus/contracts';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

export type ChatMessage = ChatCompletionMessageParam;

export interface ChatRequest {
  messages: ChatMessage[];
  settings: ModelSettings;
  signal: AbortSignal;
}

/** One interface for every LLM engine: a request in, text deltas out. */
export interface LlmEngine {
  readonly name: string;
  stream(request: ChatRequest): AsyncIterable<string>;
}

/** A classified LLM failure; `message` is written for the person reading the error event. */
export class LlmError extends Error {
  override name = 'LlmError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface LlmEngineOptions {
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** No first token within this time → timeout (ms). */
  firstTokenTimeoutMs: number;
  /** No new token within this time once streaming → timeout (ms). */
  idleTimeoutMs: number;
  maxTokens?: number;
}
