// A typed round trip against a running gantry serve, with the client that
// openapi-typescript and openapi-fetch make from api/openapi.yaml, as a
// TypeScript user would write it: compiled with tsc --strict, no casts.
// Usage: node out/roundtrip.js http://127.0.0.1:8080 (api/clients/run.sh).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type JobResource = components["schemas"]["JobResource"];
type EnqueuedJob = components["schemas"]["EnqueuedJob"];

// whole narrows an enqueue answer: a unique_key duplicate answered to a
// token without the read scope is a JobSummary, without the job's content.
function whole(j: EnqueuedJob | undefined): JobResource {
  if (j === undefined || !("args" in j)) throw new Error(`not a whole job: ${JSON.stringify(j)}`);
  return j;
}
type JobRequest = components["schemas"]["JobRequest"];

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8080";
const client = createClient<paths>({ baseUrl });

function check(ok: boolean, what: string, got: unknown): void {
  if (!ok) {
    throw new Error(`${what}: ${JSON.stringify(got)}`);
  }
}

// sameJSON compares two JSON values by their canonical encoding.
function sameJSON(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, w]) => [k, canon(w)]));
    }
    return v;
  };
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

async function main(): Promise<void> {
  // Enqueue gantry.echo (its result is its args) and long-poll to the result.
  const args = { greeting: "hello", n: 3 };
  const enq = await client.POST("/v1/jobs", { body: { kind: "gantry.echo", args } });
  if (enq.error !== undefined) throw new Error(`enqueue: ${enq.error.code}: ${enq.error.detail ?? ""}`);
  check(enq.response.status === 202, "enqueue status", enq.response.status);
  check(enq.response.headers.get("Location") === `/v1/jobs/${enq.data.id}`, "enqueue Location", enq.response.headers.get("Location"));
  let job: JobResource = whole(enq.data);
  while (job.state !== "succeeded") {
    const got = await client.GET("/v1/jobs/{id}", { params: { path: { id: job.id }, query: { wait: "30s" } } });
    if (got.error !== undefined) throw new Error(`long-poll: ${got.error.code}`);
    job = got.data;
    check(job.state !== "failed" && job.state !== "cancelled", "echo job ended", job);
  }
  check(sameJSON(job.result, args), "echo result", job.result);

  // A batch of three sleeps ({"ms": N} is typed as args), then the list two at a time.
  const jobs: JobRequest[] = [0, 1, 2].map((i) => ({ kind: "gantry.sleep", args: { ms: 10 * i }, priority: i + 1 }));
  const batch = await client.POST("/v1/jobs/batch", { body: { jobs } });
  if (batch.error !== undefined) throw new Error(`batch: ${batch.error.code}`);
  check(batch.data.jobs.length === 3 && whole(batch.data.jobs[2]).priority === 3, "batch", batch.data);
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; ; page++) {
    const query: { kind: string; limit: number; cursor?: string } = { kind: "gantry.sleep", limit: 2 };
    if (cursor !== undefined) query.cursor = cursor;
    const list = await client.GET("/v1/jobs", { params: { query } });
    if (list.error !== undefined) throw new Error(`list: ${list.error.code}`);
    for (const j of list.data.jobs) seen.add(j.id);
    if (list.data.next_cursor === "") break;
    check(page < 3, "list pages", page);
    cursor = list.data.next_cursor;
  }
  for (const j of batch.data.jobs) check(seen.has(j.id), "list with a cursor lacks a batch job", j.id);

  // An external worker: lease a kind without an in-process handler,
  // heartbeat with progress and a checkpoint, complete it.
  const work = await client.POST("/v1/jobs", { body: { kind: "ts.work", args: { file: "a.png" } } });
  if (work.error !== undefined) throw new Error(`enqueue ts.work: ${work.error.code}`);
  const lease = await client.POST("/v1/queues/{name}/lease", {
    params: { path: { name: "default" } },
    body: { max: 1, kinds: ["ts.work"], lease: "30s", wait: "10s" },
  });
  if (lease.error !== undefined) throw new Error(`lease: ${lease.error.code}`);
  const leased = lease.data.jobs[0];
  if (leased === undefined || lease.data.jobs.length !== 1) throw new Error(`lease: ${JSON.stringify(lease.data)}`);
  check(leased.id === whole(work.data).id, "leased job", leased.id);
  const hb = await client.POST("/v1/jobs/{id}/heartbeat", {
    params: { path: { id: leased.id } },
    body: { lease_token: leased.lease_token, progress: 50, message: "halfway", checkpoint: { page: 7 } },
  });
  if (hb.error !== undefined) throw new Error(`heartbeat: ${hb.error.code}`);
  check(hb.data.progress?.percent === 50 && sameJSON(hb.data.checkpoint, { page: 7 }), "heartbeat", hb.data);
  const result = { thumbnail: "a-256.png" };
  const done = await client.POST("/v1/jobs/{id}/complete", {
    params: { path: { id: leased.id } },
    body: { lease_token: leased.lease_token, result },
  });
  if (done.error !== undefined) throw new Error(`complete: ${done.error.code}`);
  check(done.data.state === "succeeded" && sameJSON(done.data.result, result), "complete", done.data);

  // A typed 409: the lease ended with the completion.
  const again = await client.POST("/v1/jobs/{id}/complete", {
    params: { path: { id: leased.id } },
    body: { lease_token: leased.lease_token },
  });
  check(again.response.status === 409, "second complete status", again.response.status);
  check(again.error?.code === "lease_lost" && again.error.state === "succeeded", "second complete problem", again.error);

  // A typed 404.
  const missing = await client.GET("/v1/jobs/{id}", { params: { path: { id: "no-such-job" } } });
  check(missing.response.status === 404, "missing job status", missing.response.status);
  check(missing.error?.code === "not_found" && missing.error.status === 404, "missing job problem", missing.error);

  // Queue counts name every state.
  const queues = await client.GET("/v1/queues");
  if (queues.error !== undefined) throw new Error(`queues: ${queues.error.code}`);
  const def = queues.data.queues.find((q) => q.name === "default");
  check(def !== undefined && def.counts.succeeded >= 2, "default queue counts", def);

  console.log("typescript client round trip: ok");
}

main().catch((err: unknown) => {
  console.error("typescript client round trip:", err);
  process.exit(1);
});
