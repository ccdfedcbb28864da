// The TypeScript client against a real core: unary and streaming calls, cancellation, errors.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Code, FinishReason, InferlineError, createClient, message, textOf } from "../src/index.js";
import { startCore, type RunningCore } from "./core.js";

let core: RunningCore;
const HI = [message("user", "hi")];

before(async () => {
  core = await startCore();
});

after(async () => {
  await core.stop();
});

test("chat counts tokens exactly", async () => {
  const reply = await core.client.chat({ model: "tiny-chat", messages: HI, sampling: { maxTokens: 7, temperature: 0 } });
  assert.equal(reply.model, "tiny-chat");
  assert.match(reply.id, /^chatcmpl-/);
  assert.equal(reply.choices[0].finishReason, FinishReason.LENGTH);
  assert.equal(reply.usage?.completionTokens, 7);
  assert.ok(textOf(reply.choices[0].message).length > 0);
});

test("chatStream yields deltas then one final chunk", async () => {
  let text = "";
  let finals = 0;
  let usage = 0;
  for await (const chunk of core.client.chatStream({ model: "tiny-chat", messages: HI, sampling: { maxTokens: 6, seed: 1n } })) {
    if (chunk.chunk.case === "delta") text += chunk.chunk.value.content;
    if (chunk.chunk.case === "final") {
      finals += 1;
      usage = chunk.chunk.value.usage?.completionTokens ?? 0;
    }
  }
  assert.equal(finals, 1);
  assert.equal(usage, 6);
  assert.ok(text.length > 0);
});

test("breaking out of a stream cancels it and frees the model", async () => {
  // Gemma 270M makes ~60 tokens/s here: 2000 tokens would hold the model for half a minute.
  const long = { model: "gemma", messages: [message("user", "Tell a long story.")], sampling: { maxTokens: 2000, temperature: 1 } };
  let seen = 0;
  for await (const chunk of core.client.chatStream(long)) {
    if (chunk.chunk.case === "delta") seen += 1;
    if (seen === 2) break;
  }
  const started = Date.now();
  const reply = await core.client.complete({ model: "gemma", prompt: "The", sampling: { maxTokens: 3 } });
  assert.equal(reply.usage?.completionTokens, 3);
  assert.ok(Date.now() - started < 10_000, "the abandoned stream still held the model");
});

test("an aborted signal cancels a unary call", async () => {
  const controller = new AbortController();
  const call = core.client.complete({ model: "gemma", prompt: "The", sampling: { maxTokens: 2000 } }, { signal: controller.signal });
  controller.abort();
  await assert.rejects(call, (error: unknown) => error instanceof InferlineError && error.code === Code.Canceled);
});

test("embed returns one vector per input, in order", async () => {
  const response = await core.client.embed({ texts: ["A cat sleeps.", "Stocks fell.", "A kitten naps."] });
  assert.equal(response.model, "all-minilm-l6-v2");
  assert.deepEqual(response.embeddings.map((e) => e.index), [0, 1, 2]);
  assert.equal(response.embeddings[0].values.length, 384);
  const [cat, stocks, kitten] = response.embeddings.map((e) => e.values);
  const dot = (a: number[], b: number[]): number => a.reduce((sum, x, i) => sum + x * b[i], 0);
  assert.ok(dot(cat, kitten) > dot(cat, stocks));
});

test("listModels lists the served models", async () => {
  const ids = (await core.client.listModels()).map((model) => model.id);
  assert.deepEqual(ids, ["all-minilm-l6-v2", "gemma", "tiny-chat", "whisper-base", "whisper-tiny.en"]);
});

test("errors carry the status code, the reason and the field", async () => {
  await assert.rejects(core.client.chat({ model: "nope", messages: HI }), (error: unknown) => {
    assert.ok(error instanceof InferlineError);
    assert.equal(error.code, Code.NotFound);
    assert.equal(error.codeName, "NotFound");
    assert.equal(error.reason, "MODEL_NOT_FOUND");
    assert.equal(error.param, "model");
    return true;
  });
  await assert.rejects(core.client.chat({ model: "tiny-chat", messages: HI, sampling: { temperature: 9 } }), (error: unknown) => {
    assert.ok(error instanceof InferlineError);
    assert.equal(error.code, Code.InvalidArgument);
    assert.equal(error.param, "temperature");
    return true;
  });
});

test("a missing image model and unreadable audio are refused with their codes", async () => {
  await assert.rejects(core.client.generateImage({ prompt: "a cat" }), (error: unknown) => {
    assert.ok(error instanceof InferlineError);
    assert.equal(error.code, Code.NotFound); // this core serves no image model
    assert.match(error.message, /no image model/);
    return true;
  });
  await assert.rejects(core.client.transcribe({ audio: new Uint8Array([1, 2, 3]) }), (error: unknown) => {
    assert.ok(error instanceof InferlineError && error.code === Code.InvalidArgument);
    assert.equal(error.param, "file"); // not audio: refused, naming the field
    return true;
  });
});

test("an unreachable core is Unavailable", async () => {
  const nowhere = createClient({ address: "127.0.0.1:1", timeoutMs: 2000 });
  try {
    await assert.rejects(nowhere.listModels(), (error: unknown) => {
      assert.ok(error instanceof InferlineError && error.code === Code.Unavailable);
      return true;
    });
  } finally {
    nowhere.close();
  }
});
