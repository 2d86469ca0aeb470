// Hangar's bridge between pi and the Managed Agents client, loaded with `pi -e`. It
// registers the agent's custom tools, connects the agent's URL MCP servers and registers
// their tools, activates the tools the agent may use, and asks before running the tools
// whose permission policy is always_ask.
//
// Custom tools and confirmations ask the client through an RPC "input" dialog (the one
// that an abort cancels): the title names the request (hangar.custom_tool_use,
// hangar.tool_confirmation), the placeholder is {"id": <tool call id>, "name", "input"},
// and Hangar answers with a JSON value:
// {"content": [...], "is_error": bool} for a custom tool, {"allow": bool, "message"} for
// a confirmation. An interrupt (the abort command) cancels a dialog nobody answered.
//
// MCP servers are spoken to over streamable HTTP (JSON-RPC POSTs answered with JSON or an
// SSE stream). The bearer token is read from the environment variable the configuration
// names, never from a file. A server that fails to connect is left out and reported as a
// "hangar.mcp_error" status ({"server", "status", "message"}) once the session starts.
// MCP tools are named mcp__<server>__<tool> (mcp.go computes the same names).
//
// pi starts with no built-in tool active (--no-builtin-tools): its --tools allowlist would
// drop the MCP tools, known only here. At session_start the bridge activates the enabled
// built-in tools, the custom tools and the MCP tools.
//
// The configuration is the JSON file named by HANGAR_PI_BRIDGE.
import { readFileSync } from "node:fs";

const PROTOCOL = "2025-06-18";
const CONNECT_TIMEOUT_MS = 30000;

function toolName(server, tool) {
	return ("mcp__" + server + "__" + tool).replace(/[^a-zA-Z0-9_-]/gu, "_").slice(0, 128);
}

// An MCP session over streamable HTTP.
class MCPClient {
	constructor(cfg) {
		this.cfg = cfg;
		this.seq = 0;
		this.session = undefined;
		this.protocol = undefined;
	}

	headers() {
		const h = { "content-type": "application/json", accept: "application/json, text/event-stream" };
		const token = this.cfg.bearer_env ? process.env[this.cfg.bearer_env] : undefined;
		if (token) h.authorization = "Bearer " + token;
		if (this.session) h["mcp-session-id"] = this.session;
		if (this.protocol) h["mcp-protocol-version"] = this.protocol;
		return h;
	}

	async post(msg, signal) {
		const res = await fetch(this.cfg.url, { method: "POST", headers: this.headers(), body: JSON.stringify(msg), signal });
		const sid = res.headers.get("mcp-session-id");
		if (sid) this.session = sid;
		return res;
	}

	async notify(method, params, signal) {
		const res = await this.post({ jsonrpc: "2.0", method, params }, signal);
		await res.body?.cancel();
		if (!res.ok) throw Object.assign(new Error(`${method}: HTTP ${res.status}`), { status: res.status });
	}

	async request(method, params, signal) {
		const id = ++this.seq;
		const res = await this.post({ jsonrpc: "2.0", id, method, params }, signal);
		if (!res.ok) {
			const text = (await res.text().catch(() => "")).slice(0, 300);
			throw Object.assign(new Error(`${method}: HTTP ${res.status} ${text}`.trim()), { status: res.status });
		}
		const type = res.headers.get("content-type") || "";
		const msg = type.includes("text/event-stream") ? await readSSE(res, id) : await res.json();
		if (msg.error) throw new Error(`${method}: ${msg.error.message} (${msg.error.code})`);
		return msg.result;
	}

	async connect() {
		const signal = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
		const init = await this.request("initialize", {
			protocolVersion: PROTOCOL,
			capabilities: {},
			clientInfo: { name: "hangar-pi-bridge", version: "1.0.0" },
		}, signal);
		this.protocol = init?.protocolVersion || PROTOCOL;
		await this.notify("notifications/initialized", undefined, signal);
		const tools = [];
		let cursor;
		do {
			const page = await this.request("tools/list", cursor ? { cursor } : {}, signal);
			tools.push(...(page?.tools || []));
			cursor = page?.nextCursor;
		} while (cursor);
		return tools;
	}

	call(name, args, signal) {
		return this.request("tools/call", { name, arguments: args ?? {} }, signal);
	}

	// close ends the MCP session (DELETE with its id), best effort.
	async close() {
		if (!this.session) return;
		await fetch(this.cfg.url, { method: "DELETE", headers: this.headers(), signal: AbortSignal.timeout(2000) })
			.then((r) => r.body?.cancel())
			.catch(() => {});
	}
}

// readSSE returns the JSON-RPC response with id from an SSE stream, skipping the server's
// notifications and requests.
async function readSSE(res, id) {
	const reader = res.body.getReader();
	const decoder = new TextDecoder();
	let buf = "";
	let data = [];
	for (;;) {
		const { value, done } = await reader.read();
		if (done) break;
		buf += decoder.decode(value, { stream: true });
		let nl;
		while ((nl = buf.indexOf("\n")) >= 0) {
			const line = buf.slice(0, nl).replace(/\r$/, "");
			buf = buf.slice(nl + 1);
			if (line === "") {
				if (data.length > 0) {
					let msg;
					try {
						msg = JSON.parse(data.join("\n"));
					} catch {}
					data = [];
					if (msg && msg.id === id && (msg.result !== undefined || msg.error !== undefined)) {
						reader.cancel().catch(() => {});
						return msg;
					}
				}
			} else if (line.startsWith("data:")) {
				data.push(line.slice(5).replace(/^ /, ""));
			}
		}
	}
	throw new Error("the MCP server closed the stream without a response");
}

// mcpContent converts an MCP tool result's content into pi's (text and images).
function mcpContent(result) {
	const out = [];
	for (const c of result?.content || []) {
		if (c.type === "text") out.push({ type: "text", text: c.text ?? "" });
		else if (c.type === "image" && c.data) out.push({ type: "image", data: c.data, mimeType: c.mimeType });
		else if (c.type === "resource" && typeof c.resource?.text === "string") out.push({ type: "text", text: c.resource.text });
		else out.push({ type: "text", text: JSON.stringify(c) });
	}
	if (out.length === 0 && result?.structuredContent !== undefined) {
		out.push({ type: "text", text: JSON.stringify(result.structuredContent) });
	}
	return out;
}

export default async function (pi) {
	const cfg = JSON.parse(readFileSync(process.env.HANGAR_PI_BRIDGE, "utf8"));
	const ask = new Set(cfg.ask || []);
	const active = [...(cfg.tools || [])];
	const taken = new Set(["bash", "read", "write", "edit", "grep", "find", "ls"]);
	for (const t of cfg.custom_tools || []) {
		taken.add(t.name);
		active.push(t.name);
		pi.registerTool({
			name: t.name,
			label: t.name,
			description: t.description || t.name,
			parameters: t.input_schema || { type: "object", properties: {} },
			async execute(toolCallId, params, signal, _onUpdate, ctx) {
				const request = JSON.stringify({ id: toolCallId, name: t.name, input: params });
				const answer = await ctx.ui.input("hangar.custom_tool_use", request, { signal });
				if (answer === undefined) throw new Error("The custom tool call was cancelled.");
				const res = JSON.parse(answer);
				const content = Array.isArray(res.content) ? res.content : [];
				if (res.is_error) {
					throw new Error(content.filter((c) => c.type === "text").map((c) => c.text).join("\n") || "The tool failed.");
				}
				return { content, details: {} };
			},
		});
	}

	const clients = [];
	const failed = [];
	const connected = await Promise.all((cfg.mcp_servers || []).map(async (s) => {
		const client = new MCPClient(s);
		try {
			return { s, client, tools: await client.connect() };
		} catch (err) {
			// fetch's own message ("fetch failed") hides the cause (ECONNREFUSED, ...).
			const cause = err?.cause?.code || err?.cause?.message;
			const message = String(err?.message || err) + (cause ? ` (${cause})` : "");
			console.error(`hangar: MCP server ${JSON.stringify(s.name)} failed to connect: ${message}`);
			failed.push({ server: s.name, status: err?.status || 0, message });
			return undefined;
		}
	}));
	for (const c of connected) {
		if (!c) continue;
		const { s, client, tools } = c;
		clients.push(client);
		for (const tool of tools) {
			if (!tool?.name) continue;
			const conf = (s.tools || {})[tool.name] || {};
			if (!(conf.enabled ?? s.enabled)) continue;
			const name = toolName(s.name, tool.name);
			if (taken.has(name)) {
				console.error(`hangar: MCP tool ${JSON.stringify(tool.name)} of ${JSON.stringify(s.name)} left out: the name ${name} is taken`);
				continue;
			}
			taken.add(name);
			active.push(name);
			if (conf.ask ?? s.ask) ask.add(name);
			pi.registerTool({
				name,
				label: `${s.name}: ${tool.name}`,
				description: tool.description || `${tool.name} (MCP server ${s.name})`,
				parameters: tool.inputSchema || { type: "object", properties: {} },
				async execute(_toolCallId, params, signal) {
					const result = await client.call(tool.name, params, signal);
					const content = mcpContent(result);
					if (result?.isError) {
						throw new Error(content.filter((x) => x.type === "text").map((x) => x.text).join("\n") || "The MCP tool failed.");
					}
					return { content, details: { mcp_server_name: s.name, name: tool.name } };
				},
			});
		}
	}

	pi.on("session_start", (_event, ctx) => {
		pi.setActiveTools(active);
		// Each failed server as a status line, which Hangar reports as a session.error.
		for (const f of failed) ctx.ui.setStatus("hangar.mcp_error", JSON.stringify(f));
	});
	pi.on("session_shutdown", async () => {
		await Promise.all(clients.map((c) => c.close()));
	});
	pi.on("tool_call", async (event, ctx) => {
		if (!ask.has(event.toolName)) return;
		const request = JSON.stringify({ id: event.toolCallId, name: event.toolName, input: event.input });
		const answer = await ctx.ui.input("hangar.tool_confirmation", request, { signal: ctx.signal });
		const res = answer === undefined ? { allow: false } : JSON.parse(answer);
		if (!res.allow) return { block: true, reason: res.message || "The user denied this tool use." };
	});
}
