// Start the real Python core on a free port, stop it afterwards. It serves a tiny GGUF that
// this test writes (fast, always runs to max_tokens), the bundled default chat model (slow
// enough to observe cancellation) and the bundled embedding model. PYTHON names the
// interpreter (default: python3).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { createClient, type InferlineClient } from "../src/index.js";

// dist/test/core.js -> the repository root
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const PYTHON = process.env.PYTHON ?? "python3";

export interface RunningCore {
  address: string;
  client: InferlineClient;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

// Writes the tiny model and a config.toml serving it beside the default chat model; with
// names, a config serving only tiny models by those names (no bundled models at all).
const PREPARE = `
import pathlib, sys
from inferline_core.config import default_model_config, load_config
from tests.fixtures.tiny_gguf import write_tiny_chat_gguf
folder, names = pathlib.Path(sys.argv[1]), sys.argv[2:]
tiny = write_tiny_chat_gguf(folder / "tiny-chat.gguf")
if names:
    text = "[core]\\ndefault_embedding_model = false\\ndefault_speech_models = false\\n"
    text += "".join(f'[api.models.{n}]\\npath = "{tiny}"\\ncontext_length = 512\\n' for n in names)
else:
    gemma = default_model_config(load_config(None).core.store_path)
    text = (
        f'[api.models.tiny-chat]\\npath = "{tiny}"\\ncontext_length = 512\\n'
        f'[api.models.gemma]\\npath = "{gemma.path}"\\nchat_format = "gemma"\\ncontext_length = 4096\\n'
    )
(folder / "config.toml").write_text(text)
`;

function writeConfig(names: string[]): string {
  const folder = mkdtempSync(join(tmpdir(), "inferline-ts-"));
  const made = spawnSync(PYTHON, ["-c", PREPARE, folder, ...names], { cwd: ROOT, encoding: "utf8" });
  if (made.status !== 0) throw new Error(`preparing the models failed: ${made.stderr}`);
  return join(folder, "config.toml");
}

async function waitReady(client: InferlineClient, core: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (core.exitCode !== null) throw new Error(`the core exited early:\n${log()}`);
    try {
      await client.listModels({ timeoutMs: 1000 });
      return;
    } catch {
      await new Promise((wait) => setTimeout(wait, 200));
    }
  }
  throw new Error(`the core did not start:\n${log()}`);
}

/** A core serving the tiny and the default chat model, or only tiny models named `names`. */
export async function startCore(names: string[] = []): Promise<RunningCore> {
  const config = writeConfig(names);
  const address = `127.0.0.1:${await freePort()}`;
  const args = ["-m", "inferline_core.cli", "core", "--config", config, "--grpc-address", address];
  const core = spawn(PYTHON, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  core.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  core.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const client = createClient({ address });
  await waitReady(client, core, () => output);
  return {
    address,
    client,
    async stop() {
      client.close();
      if (core.exitCode === null) {
        const exited = new Promise((done) => core.once("exit", done));
        core.kill("SIGINT");
        await exited;
      }
    },
  };
}
