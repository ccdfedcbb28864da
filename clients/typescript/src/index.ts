// @inferline/client: a typed gRPC client for the inferline core.
export { createClient, InferlineClient, message, textOf } from "./client.js";
export type { CallOptions, ChatInit, ClientOptions, CompleteInit, EmbedInit, GenerateImageInit, TranscribeInit } from "./client.js";
export { InferlineError } from "./errors.js";
export { Code } from "@connectrpc/connect";
export * from "./gen/inferline/v1/audio_service_pb.js";
export * from "./gen/inferline/v1/chat_service_pb.js";
export * from "./gen/inferline/v1/common_pb.js";
export * from "./gen/inferline/v1/completion_service_pb.js";
export * from "./gen/inferline/v1/embedding_service_pb.js";
export * from "./gen/inferline/v1/image_service_pb.js";
export * from "./gen/inferline/v1/model_service_pb.js";
