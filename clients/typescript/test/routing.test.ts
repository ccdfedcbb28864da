// One client over two real cores with different models: each request reaches a core that
// serves its model (a wrong core would answer NotFound), listModels is the union, and a model
// whose only core has stopped is Unavailable rather than sent to the other core.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Code, InferlineError, createClient, message, type InferlineClient } from "../src/index.js";
import { startCore, type RunningCore } from "./core.js";

let left: RunningCore;
let right: RunningCore;
let client: InferlineClient;
const HI = [message("user", "hi")];

before(async () => {
  [left, right] = await Promise.all([startCore(["left-only", "shared"]), startCore(["right-only", "shared"])]);
  client = createClient({ address: `${left.address},${right.address}`, timeoutMs: 20_000 });
});

after(async () => {
  client.close();
  await Promise.all([left.stop(), right.stop()]);
});

test("requests reach the cores that serve their model, and models are the union", async () => {
  const ids = (await client.listModels()).map((model) => model.id);
  assert.deepEqual(ids, ["left-only", "right-only", "shared"]);
  for (const model of ["left-only", "right-only", "left-only", "right-only", "shared", "shared"]) {
    const reply = await client.chat({ model, messages: HI, sampling: { maxTokens: 2 } });
    assert.equal(reply.model, model);
    assert.equal(reply.usage?.completionTokens, 2);
  }
  let text = 0;
  for await (const chunk of client.chatStream({ model: "right-only", messages: HI, sampling: { maxTokens: 3 } })) {
    if (chunk.chunk.case === "final") text = chunk.chunk.value.usage?.completionTokens ?? 0;
  }
  assert.equal(text, 3);
});

test("a model whose core is gone is Unavailable, and the other core keeps serving", async () => {
  await left.stop();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.chat({ model: "left-only", messages: HI, sampling: { maxTokens: 1 } });
      assert.ok(Date.now() < deadline, "left-only was still answered after its core stopped");
    } catch (error) {
      assert.ok(error instanceof InferlineError, String(error));
      if (error.code === Code.Unavailable) break;
      assert.ok(Date.now() < deadline, `unexpected ${error.codeName}`);
    }
    await new Promise((wait) => setTimeout(wait, 200));
  }
  const reply = await client.chat({ model: "shared", messages: HI, sampling: { maxTokens: 1 } });
  assert.equal(reply.usage?.completionTokens, 1);
});
