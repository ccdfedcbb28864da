// Errors from the core: every failed call becomes an InferlineError carrying the gRPC status
// code and what the core says about it in google.rpc details (ErrorInfo: reason and the
// offending request field; RetryInfo: when to try again after a full queue).
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

const ERROR_INFO = "google.rpc.ErrorInfo";
const RETRY_INFO = "google.rpc.RetryInfo";

/** A failed call: `code` is the gRPC status code (Connect's `Code` enum, same numbers). */
export class InferlineError extends Error {
  override readonly name = "InferlineError";

  constructor(
    message: string,
    readonly code: Code,
    /** The core's reason, such as `MODEL_NOT_FOUND` or `QUEUE_FULL`; "" if none. */
    readonly reason: string = "",
    /** The request field at fault, such as `model` or `input[3]`, if the core named one. */
    readonly param: string | undefined = undefined,
    /** Milliseconds to wait before trying again, when the core says so. */
    readonly retryAfterMs: number | undefined = undefined,
  ) {
    super(message);
  }

  /** The status code's name, such as `NotFound`. */
  get codeName(): string {
    return Code[this.code];
  }
}

interface ErrorInfo {
  reason: string;
  metadata: Map<string, string>;
}

function readErrorInfo(bytes: Uint8Array): ErrorInfo {
  const info: ErrorInfo = { reason: "", metadata: new Map() };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) {
      info.reason = reader.string();
    } else if (field === 3 && wireType === WireType.LengthDelimited) {
      const entry = new BinaryReader(reader.bytes());
      let key = "";
      let value = "";
      while (entry.pos < entry.len) {
        const [entryField] = entry.tag();
        if (entryField === 1) key = entry.string();
        else value = entry.string();
      }
      info.metadata.set(key, value);
    } else {
      reader.skip(wireType);
    }
  }
  return info;
}

function readRetryDelayMs(bytes: Uint8Array): number | undefined {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      continue;
    }
    const duration = new BinaryReader(reader.bytes());
    let ms = 0;
    while (duration.pos < duration.len) {
      const [durationField, durationWire] = duration.tag();
      if (durationField === 1) ms += Number(duration.int64()) * 1000;
      else if (durationField === 2) ms += duration.int32() / 1e6;
      else duration.skip(durationWire);
    }
    return ms;
  }
  return undefined;
}

/** The InferlineError for anything a call threw. */
export function toInferlineError(error: unknown): InferlineError {
  if (error instanceof InferlineError) return error;
  const connect = ConnectError.from(error);
  let reason = "";
  let param: string | undefined;
  let retryAfterMs: number | undefined;
  for (const detail of connect.details) {
    if (!("type" in detail)) continue; // outgoing details only exist on the server side
    if (detail.type === ERROR_INFO) {
      const info = readErrorInfo(detail.value);
      reason = info.reason;
      param = info.metadata.get("param");
    } else if (detail.type === RETRY_INFO) {
      retryAfterMs = readRetryDelayMs(detail.value);
    }
  }
  return new InferlineError(connect.rawMessage, connect.code, reason, param, retryAfterMs);
}
