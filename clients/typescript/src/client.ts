// The client: an HTTP/2 connection to a core (or to each of several, routed by model), typed
// methods per RPC, streams as async iterators that cancel their call when the consumer stops early.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, createClient as connectClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { AudioService, TranscribeRequestSchema } from "./gen/inferline/v1/audio_service_pb.js";
import type { TranscribeResponse } from "./gen/inferline/v1/audio_service_pb.js";
import {
  ChatService,
  ChatRequestSchema,
  Role,
  type ChatMessage,
  type ChatResponse,
  type ChatStreamResponse,
} from "./gen/inferline/v1/chat_service_pb.js";
import { ContentPartSchema } from "./gen/inferline/v1/common_pb.js";
import {
  CompletionService,
  CompleteRequestSchema,
  type CompleteResponse,
  type CompleteStreamResponse,
} from "./gen/inferline/v1/completion_service_pb.js";
import {
  EmbeddingService,
  EmbedRequestSchema,
  type EmbedResponse,
} from "./gen/inferline/v1/embedding_service_pb.js";
import {
  GenerateImageRequestSchema,
  ImageService,
  type GenerateImageResponse,
} from "./gen/inferline/v1/image_service_pb.js";
import { ModelService, ModelState, type Model } from "./gen/inferline/v1/model_service_pb.js";
import { InferlineError, toInferlineError } from "./errors.js";
import { coreAddresses, Router, type CoreLink } from "./routing.js";

export type ChatInit = MessageInitShape<typeof ChatRequestSchema>;
export type CompleteInit = MessageInitShape<typeof CompleteRequestSchema>;
export type EmbedInit = MessageInitShape<typeof EmbedRequestSchema>;
export type GenerateImageInit = MessageInitShape<typeof GenerateImageRequestSchema>;
export type TranscribeInit = MessageInitShape<typeof TranscribeRequestSchema>;
export type MessageInit = MessageInitShape<typeof ChatRequestSchema>["messages"] extends
  | (infer M)[]
  | undefined
  ? M
  : never;

export interface ClientOptions {
  /** The core's `host:port`, such as `127.0.0.1:50051`, or several, comma-separated: each
   * request then goes to a core that serves its model (see routing.ts). */
  address: string;
  /** Sent as `authorization: Bearer <apiKey>` on every call. */
  apiKey?: string;
  /** Connect with TLS (https) rather than plaintext HTTP/2. */
  tls?: boolean;
  /** A deadline for every call, in milliseconds; none by default. */
  timeoutMs?: number;
}

export interface CallOptions {
  /** Cancels the call when aborted. */
  signal?: AbortSignal;
  /** This call's deadline in milliseconds. */
  timeoutMs?: number;
}

const ROLES = {
  system: Role.SYSTEM,
  developer: Role.DEVELOPER,
  user: Role.USER,
  assistant: Role.ASSISTANT,
  tool: Role.TOOL,
} as const;

/** A text message, for `chat({ messages: [message("user", "Hi")] })`. */
export function message(role: keyof typeof ROLES, text: string): MessageInit {
  return { role: ROLES[role], content: [create(ContentPartSchema, { part: { case: "text", value: text } })] };
}

/** The text of a chat message. */
export function textOf(chatMessage: ChatMessage | undefined): string {
  return (chatMessage?.content ?? [])
    .map((part) => (part.part.case === "text" ? part.part.value : ""))
    .join("");
}

async function unary<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toInferlineError(error);
  }
}

async function* stream<T>(open: (signal: AbortSignal) => AsyncIterable<T>, outer?: AbortSignal): AsyncGenerator<T> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  outer?.addEventListener("abort", onAbort);
  try {
    for await (const item of open(controller.signal)) yield item;
  } catch (error) {
    throw toInferlineError(error);
  } finally {
    controller.abort(); // the loop ended early or failed: cancel the call on the core
    outer?.removeEventListener("abort", onAbort);
  }
}

/** One core: its HTTP/2 connection and a client per service. */
class Link implements CoreLink {
  readonly #sessions: Http2SessionManager;
  readonly chat: Client<typeof ChatService>;
  readonly completion: Client<typeof CompletionService>;
  readonly embedding: Client<typeof EmbeddingService>;
  readonly image: Client<typeof ImageService>;
  readonly audio: Client<typeof AudioService>;
  readonly models: Client<typeof ModelService>;

  constructor(address: string, options: ClientOptions) {
    const baseUrl = `${options.tls ? "https" : "http"}://${address}`;
    this.#sessions = new Http2SessionManager(baseUrl);
    const interceptors: Interceptor[] = [];
    if (options.apiKey) {
      const header = `Bearer ${options.apiKey}`;
      interceptors.push((next) => (request) => {
        request.header.set("authorization", header);
        return next(request);
      });
    }
    const transport = createGrpcTransport({ baseUrl, sessionManager: this.#sessions, interceptors });
    this.chat = connectClient(ChatService, transport);
    this.completion = connectClient(CompletionService, transport);
    this.embedding = connectClient(EmbeddingService, transport);
    this.image = connectClient(ImageService, transport);
    this.audio = connectClient(AudioService, transport);
    this.models = connectClient(ModelService, transport);
  }

  async listModels(timeoutMs: number): Promise<Model[]> {
    return (await this.models.listModels({}, { timeoutMs })).models;
  }

  close(): void {
    this.#sessions.abort();
  }
}

export class InferlineClient {
  readonly #single: Link | undefined;
  readonly #router: Router<Link> | undefined;
  readonly #timeoutMs: number | undefined;

  constructor(options: ClientOptions) {
    const addresses = coreAddresses(options.address);
    if (addresses.length > 1) this.#router = new Router(addresses, (address) => new Link(address, options));
    else this.#single = new Link(options.address, options);
    this.#timeoutMs = options.timeoutMs;
  }

  /** The core that takes a request on `model`. */
  async #on(model: string | undefined): Promise<Link> {
    return this.#single ?? (await this.#router!.pick(model ?? ""));
  }

  /** Run a unary call on the core for `model`. Over several cores, a call whose core is
   * unreachable takes that core out of turn and runs once more on another. */
  async #call<T>(model: string | undefined, run: (link: Link) => Promise<T>): Promise<T> {
    const link = await this.#on(model);
    try {
      return await unary(() => run(link));
    } catch (error) {
      if (!this.#router || !(error instanceof InferlineError) || error.code !== Code.Unavailable) throw error;
      this.#router.down(link);
      return unary(async () => run(await this.#on(model)));
    }
  }

  #options(options?: CallOptions): { signal?: AbortSignal; timeoutMs?: number } {
    return { signal: options?.signal, timeoutMs: options?.timeoutMs ?? this.#timeoutMs };
  }

  /** Answer a conversation. */
  chat(request: ChatInit, options?: CallOptions): Promise<ChatResponse> {
    return this.#call(request.model, (link) => link.chat.chat(request, this.#options(options)));
  }

  /** Stream the answer: deltas, then one `final` chunk with finish reasons and usage. */
  chatStream(request: ChatInit, options?: CallOptions): AsyncGenerator<ChatStreamResponse> {
    const timeoutMs = this.#options(options).timeoutMs;
    const on = (): Promise<Link> => this.#on(request.model);
    return stream(async function* (signal) {
      yield* (await on()).chat.chatStream(request, { signal, timeoutMs });
    }, options?.signal);
  }

  /** Continue a raw prompt. */
  complete(request: CompleteInit, options?: CallOptions): Promise<CompleteResponse> {
    return this.#call(request.model, (link) => link.completion.complete(request, this.#options(options)));
  }

  /** Stream the continuation of a raw prompt. */
  completeStream(request: CompleteInit, options?: CallOptions): AsyncGenerator<CompleteStreamResponse> {
    const timeoutMs = this.#options(options).timeoutMs;
    const on = (): Promise<Link> => this.#on(request.model);
    return stream(async function* (signal) {
      yield* (await on()).completion.completeStream(request, { signal, timeoutMs });
    }, options?.signal);
  }

  /** One vector per input, computed as a batch. Strings are shorthand for text inputs. */
  embed(request: EmbedInit | { model?: string; texts: string[] }, options?: CallOptions): Promise<EmbedResponse> {
    const init: EmbedInit =
      "texts" in request
        ? { model: request.model, inputs: request.texts.map((text) => ({ input: { case: "text" as const, value: text } })) }
        : request;
    return this.#call(init.model, (link) => link.embedding.embed(init, this.#options(options)));
  }

  /** Generate images from a prompt. */
  generateImage(request: GenerateImageInit, options?: CallOptions): Promise<GenerateImageResponse> {
    return this.#call(request.model, (link) => link.image.generateImage(request, this.#options(options)));
  }

  /** Transcribe audio bytes. */
  transcribe(request: TranscribeInit, options?: CallOptions): Promise<TranscribeResponse> {
    return this.#call(request.model, (link) => link.audio.transcribe(request, this.#options(options)));
  }

  /** Every model the core knows, loaded or not; over several cores, their union by id. */
  async listModels(options?: CallOptions): Promise<Model[]> {
    const links = this.#single ? [this.#single] : await this.#router!.all();
    const lists = await Promise.all(
      links.map((link) => unary(() => link.models.listModels({}, this.#options(options)))),
    );
    const merged = new Map<string, Model>();
    for (const model of lists.flatMap((response) => response.models)) {
      const seen = merged.get(model.id);
      if (!seen || (model.state === ModelState.LOADED && seen.state !== ModelState.LOADED)) merged.set(model.id, model);
    }
    return [...merged.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Close the connections; calls still running fail. */
  close(): void {
    this.#single?.close();
    this.#router?.close();
  }
}

/** A client for the core at `options.address`, or for several (`a:50051,b:50051`). */
export function createClient(options: ClientOptions): InferlineClient {
  return new InferlineClient(options);
}
