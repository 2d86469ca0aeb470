// Hangar's bridge between pi and the Managed Agents client, loaded with `pi -e`. It
// registers the agent's custom tools and asks before running the tools whose permission
// policy is always_ask. Both ask the client through an RPC "input" dialog (the one that
// an abort cancels): the title names the request (hangar.custom_tool_use,
// hangar.tool_confirmation), the placeholder is {"id": <tool call id>, "name", "input"},
// and Hangar answers with a JSON value:
// {"content": [...], "is_error": bool} for a custom tool, {"allow": bool, "message"} for
// a confirmation. An interrupt (the abort command) cancels a dialog nobody answered.
// The configuration is the JSON file named by HANGAR_PI_BRIDGE.
import { readFileSync } from "node:fs";

export default function (pi) {
	const cfg = JSON.parse(readFileSync(process.env.HANGAR_PI_BRIDGE, "utf8"));
	const ask = new Set(cfg.ask || []);
	for (const t of cfg.custom_tools || []) {
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
	pi.on("tool_call", async (event, ctx) => {
		if (!ask.has(event.toolName)) return;
		const request = JSON.stringify({ id: event.toolCallId, name: event.toolName, input: event.input });
		const answer = await ctx.ui.input("hangar.tool_confirmation", request, { signal: ctx.signal });
		const res = answer === undefined ? { allow: false } : JSON.parse(answer);
		if (!res.allow) return { block: true, reason: res.message || "The user denied this tool use." };
	});
}
