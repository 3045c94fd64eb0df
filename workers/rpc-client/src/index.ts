/**
 * Example client of the API worker's RPC entrypoint. POST /rpc/completions with an OpenAI
 * completion body calls `EDGESPEC_RPC.complete(body)` and returns its status and body unchanged.
 * Every other request is passed to the API worker over HTTP, so one process serves both paths.
 */
interface RpcResult {
  status: number;
  body: unknown;
}

interface Env {
  EDGESPEC_RPC: Fetcher & { complete(body: unknown): Promise<RpcResult>; chat(body: unknown): Promise<RpcResult> };
  EDGESPEC_HTTP: Fetcher;
}

const RPC_METHODS = new Map<string, "complete" | "chat">([
  ["/rpc/completions", "complete"],
  ["/rpc/chat/completions", "chat"],
]);

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const path = new URL(request.url).pathname;
    const method = RPC_METHODS.get(path);
    if (method === undefined || request.method !== "POST") return env.EDGESPEC_HTTP.fetch(request);

    let body: unknown;
    try {
      body = await request.json();
    } catch {
      return Response.json({ error: { message: "The request body is not valid JSON.", type: "invalid_request_error", param: null, code: "invalid_json" } }, { status: 400 });
    }
    const result = await env.EDGESPEC_RPC[method](body);
    return Response.json(result.body, { status: result.status });
  },
};
