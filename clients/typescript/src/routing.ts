// Model-aware routing over several cores, as the Python SDK does it: one HTTP/2 connection per
// core, the model sets learned from each core's ModelService in the background (never per
// request), and each request sent to a core that serves its model, cores that have it loaded
// first, taking turns among them.
import { Code } from "@connectrpc/connect";

import { ModelState, type Model } from "./gen/inferline/v1/model_service_pb.js";
import { InferlineError } from "./errors.js";

/** What the router needs of one core's connection. */
export interface CoreLink {
  listModels(timeoutMs: number): Promise<Model[]>;
  close(): void;
}

interface CoreState<L extends CoreLink> {
  link: L;
  up: boolean;
  /** Model id -> whether it is loaded there; kept while the core is away. */
  models: Map<string, boolean>;
}

const POLL_TIMEOUT_MS = 2000;

/** Split `a:50051,b:50051` into the cores' addresses. */
export function coreAddresses(address: string): string[] {
  return address
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

export class Router<L extends CoreLink> {
  readonly #cores = new Map<string, CoreState<L>>();
  readonly #timer: NodeJS.Timeout;
  readonly #firstLook: Promise<void>;
  #turn = 0;

  constructor(addresses: string[], connect: (address: string) => L, refreshMs = 1000) {
    for (const address of addresses) this.#cores.set(address, { link: connect(address), up: false, models: new Map() });
    this.#firstLook = this.refresh();
    this.#timer = setInterval(() => void this.refresh(), refreshMs);
    this.#timer.unref(); // a client that is not closed must not keep node alive
  }

  /** Look at every core once: is it answering, and which models does it serve. */
  async refresh(): Promise<void> {
    await Promise.all(
      [...this.#cores.values()].map(async (core) => {
        try {
          const models = await core.link.listModels(POLL_TIMEOUT_MS);
          core.models = new Map(models.map((model) => [model.id, model.state === ModelState.LOADED]));
          core.up = true;
        } catch {
          core.up = false;
        }
      }),
    );
  }

  /** The core for a request on `model` ("" for a kind's default); Unavailable when none is up. */
  async pick(model: string): Promise<L> {
    await this.#firstLook;
    const cores = [...this.#cores.values()];
    const up = cores.filter((core) => core.up);
    let pool = up;
    // A model no core lists goes to any core that is up (it answers, if only NotFound); a model
    // whose cores are all away is unavailable rather than sent to a core without it.
    if (model && cores.some((core) => core.models.has(model))) {
      const serving = up.filter((core) => core.models.has(model));
      const loaded = serving.filter((core) => core.models.get(model) === true);
      pool = loaded.length > 0 ? loaded : serving;
    }
    if (pool.length === 0) throw new InferlineError(`no core serving ${model || "requests"} is up`, Code.Unavailable);
    return pool[this.#turn++ % pool.length].link;
  }

  /** Take a core out of turn until the next refresh finds it answering (a call to it failed
   * with Unavailable). */
  down(link: L): void {
    for (const core of this.#cores.values()) if (core.link === link) core.up = false;
  }

  /** Every core's link, for calls that ask all of them. */
  async all(): Promise<L[]> {
    await this.#firstLook;
    return [...this.#cores.values()].filter((core) => core.up).map((core) => core.link);
  }

  close(): void {
    clearInterval(this.#timer);
    for (const core of this.#cores.values()) core.link.close();
  }
}
