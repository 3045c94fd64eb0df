/**
 * Starts and stops the local stack: the GPU verification service (Python, on CPU) and the API
 * worker in workerd (`wrangler dev`). Used by the run command (scripts/dev.ts) and by the
 * end-to-end tests. Every server listens on 127.0.0.1 only.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const HOST = "127.0.0.1";

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  /** The last output lines, shown when the process fails to start. */
  output: string[];
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port assigned"))));
    });
  });
}

export function newSecret(): string {
  return randomBytes(32).toString("hex");
}

export function pythonPath(): string {
  const result = spawnSync("bash", [join(ROOT, "scripts/python-env.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (result.status !== 0) throw new Error(`scripts/python-env.sh failed with status ${result.status}`);
  return join(result.stdout.trim(), "bin/python");
}

function track(name: string, child: ChildProcess, echo: boolean): RunningProcess {
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    if (echo) process.stderr.write(text.replace(/^(?=.)/gm, `[${name}] `));
    output.push(...text.split("\n").filter((line) => line.length > 0));
    if (output.length > 60) output.splice(0, output.length - 60);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  return { name, child, output };
}

export function startGpuService(options: { port: number; secret: string; echo?: boolean; modelDir?: string }): RunningProcess {
  const python = pythonPath();
  // EDGESPEC_MODEL_DIR swaps in another checkpoint; it must use the embedded model's tokenizer,
  // which the worker bundles (the worker checks the vocabulary size).
  const model = options.modelDir ?? process.env.EDGESPEC_MODEL_DIR ?? join(ROOT, "models/edgespec-tiny");
  const child = spawn(python, ["-m", "edgespec_gpu", "--model", model, "--host", HOST, "--port", String(options.port)], {
    cwd: join(ROOT, "gpu-service"),
    env: { ...process.env, EDGESPEC_GPU_SECRET: options.secret, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  return track("gpu", child, options.echo ?? false);
}

export interface WorkerOptions {
  port: number;
  gpuUrl: string;
  secret: string;
  /** Wrangler configs; the first one is served over HTTP. */
  configs?: string[];
  /** Folder for local Durable Object and cache state; default a fresh folder removed on stop. */
  persistTo?: string;
  echo?: boolean;
}

/**
 * Starts `wrangler dev` with telemetry and network look-ups off, a private config folder and
 * local state. The GPU service URL and secret reach the API worker through wrangler's process
 * environment (the `secrets.required` list of wrangler.toml), which works for a worker that is
 * not the first config, where --var and --env-file do not apply.
 */
export function startWorker(options: WorkerOptions): RunningProcess & { scratch: string } {
  const scratch = mkdtempSync(join(tmpdir(), "edgespec-wrangler-"));
  const configs = (options.configs ?? ["wrangler.toml"]).flatMap((config) => ["-c", config]);
  const wrangler = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
  const args = [wrangler, "dev", ...configs, "--ip", HOST, "--port", String(options.port)];
  args.push("--inspector-ip", HOST, "--persist-to", options.persistTo ?? join(scratch, "state"), "--show-interactive-dev-session=false", "--log-level", "log");
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      XDG_CONFIG_HOME: join(scratch, "config"),
      GPU_SERVICE_URL: options.gpuUrl,
      GPU_SERVICE_SECRET: options.secret,
      FORCE_COLOR: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  return { ...track("worker", child, options.echo ?? false), scratch };
}

/** Polls `url` until it returns 200, the process exits, or `timeoutMs` passes. */
export async function waitForHealthy(url: string, running: RunningProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (running.child.exitCode !== null || running.child.signalCode !== null) {
      throw new Error(`${running.name} exited (${running.child.exitCode ?? running.child.signalCode}) before ${url} was ready:\n${running.output.join("\n")}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((wake) => setTimeout(wake, 250));
  }
  throw new Error(`${running.name} was not ready at ${url} after ${timeoutMs} ms:\n${running.output.join("\n")}`);
}

/** Stops a process group started here: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(running: RunningProcess & { scratch?: string }, graceMs = 5000): Promise<void> {
  const pid = running.child.pid;
  if (pid !== undefined && running.child.exitCode === null && running.child.signalCode === null) {
    const exited = new Promise<void>((done) => running.child.once("exit", () => done()));
    signalGroup(pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
    // workerd runs in the same group and may outlive wrangler by a moment.
    signalGroup(pid, "SIGKILL");
  }
  if (running.scratch) rmSync(running.scratch, { recursive: true, force: true });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}
