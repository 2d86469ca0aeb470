package httpapi

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// operation documents one route in /v1/openapi.json.
type operation struct {
	ID      string
	Summary string
	Tag     string
}

// operations describes every route registered in routes.go, keyed by its pattern. The
// OpenAPI document is generated from the registered patterns, and TestOpenAPIMatchesRoutes
// fails if a route lacks an entry here or an entry names no route.
var operations = map[string]operation{
	"GET /v1/openapi.json": {"getOpenAPI", "This document", "meta"},

	"POST /v1/agents":                                                                     {"createAgent", "Create an agent (version 1)", "agents"},
	"GET /v1/agents":                                                                      {"listAgents", "List agents (latest versions)", "agents"},
	"GET /v1/agents/{agent_id}":                                                           {"getAgent", "Get an agent, optionally at ?version=N", "agents"},
	"POST /v1/agents/{agent_id}":                                                          {"updateAgent", "Update an agent: publishes a new version when anything changes", "agents"},
	"POST /v1/agents/{agent_id}/archive":                                                  {"archiveAgent", "Archive an agent", "agents"},
	"GET /v1/agents/{agent_id}/versions":                                                  {"listAgentVersions", "List an agent's versions", "agents"},
	"POST /v1/agents/{agent_id}/webhook_secret/rotate":                                    {"rotateAgentWebhookSecret", "Replace an agent's webhook signing secret (Hangar extension)", "agents"},
	"POST /v1/environments":                                                               {"createEnvironment", "Create an environment", "environments"},
	"GET /v1/environments":                                                                {"listEnvironments", "List environments", "environments"},
	"GET /v1/environments/{environment_id}":                                               {"getEnvironment", "Get an environment", "environments"},
	"POST /v1/environments/{environment_id}":                                              {"updateEnvironment", "Update an environment", "environments"},
	"DELETE /v1/environments/{environment_id}":                                            {"deleteEnvironment", "Delete an environment", "environments"},
	"POST /v1/environments/{environment_id}/archive":                                      {"archiveEnvironment", "Archive an environment", "environments"},
	"GET /v1/environments/{environment_id}/build_log":                                     {"getEnvironmentBuildLog", "Hangar extension: the log of the environment's package build (text/plain)", "environments"},
	"GET /v1/environments/{environment_id}/work/poll":                                     {"pollWork", "Self-hosted worker: long-poll for a work item (environment key)", "work"},
	"POST /v1/environments/{environment_id}/work/{work_id}/ack":                           {"ackWork", "Self-hosted worker: acknowledge a polled work item", "work"},
	"POST /v1/environments/{environment_id}/work/{work_id}/heartbeat":                     {"heartbeatWork", "Self-hosted worker: extend a work item's lease (412 on a stale expected_last_heartbeat)", "work"},
	"POST /v1/environments/{environment_id}/work/{work_id}/stop":                          {"stopWork", "Stop a work item (force: at once)", "work"},
	"GET /v1/environments/{environment_id}/work":                                          {"listWork", "List an environment's work items", "work"},
	"GET /v1/environments/{environment_id}/work/{work_id}":                                {"getWork", "Get a work item", "work"},
	"POST /v1/environments/{environment_id}/work/{work_id}":                               {"updateWork", "Patch a work item's metadata", "work"},
	"GET /v1/environments/{environment_id}/work/stats":                                    {"getWorkStats", "Work queue statistics of an environment", "work"},
	"POST /v1/environments/{environment_id}/rotate_key":                                   {"rotateEnvironmentKey", "Hangar extension: replace a self_hosted environment's key (shown once)", "environments"},
	"GET /v1/providers":                                                                   {"listProviders", "Hangar extension: the sandbox providers and whether each is available", "providers"},
	"POST /v1/sessions":                                                                   {"createSession", "Create a session", "sessions"},
	"GET /v1/sessions":                                                                    {"listSessions", "List sessions", "sessions"},
	"GET /v1/sessions/{session_id}":                                                       {"getSession", "Get a session", "sessions"},
	"POST /v1/sessions/{session_id}":                                                      {"updateSession", "Update a session", "sessions"},
	"DELETE /v1/sessions/{session_id}":                                                    {"deleteSession", "Delete a session and its history", "sessions"},
	"POST /v1/sessions/{session_id}/archive":                                              {"archiveSession", "Archive a session", "sessions"},
	"POST /v1/sessions/{session_id}/resources":                                            {"addSessionResource", "Add a file resource to a session", "sessions"},
	"GET /v1/sessions/{session_id}/resources":                                             {"listSessionResources", "List a session's resources", "sessions"},
	"GET /v1/sessions/{session_id}/resources/{resource_id}":                               {"getSessionResource", "Get a session resource", "sessions"},
	"POST /v1/sessions/{session_id}/resources/{resource_id}":                              {"updateSessionResource", "Rotate a github_repository resource's authorization token", "sessions"},
	"DELETE /v1/sessions/{session_id}/resources/{resource_id}":                            {"deleteSessionResource", "Remove a resource from a session", "sessions"},
	"POST /v1/sessions/{session_id}/events":                                               {"sendEvents", "Send user events to a session", "events"},
	"GET /v1/sessions/{session_id}/events":                                                {"listEvents", "List a session's events", "events"},
	"GET /v1/sessions/{session_id}/events/stream":                                         {"streamEvents", "Stream a session's events (SSE; Last-Event-ID resumes)", "events"},
	"GET /v1/sessions/{session_id}/threads":                                               {"listThreads", "List a session's threads (primary first)", "threads"},
	"GET /v1/sessions/{session_id}/threads/{thread_id}":                                   {"getThread", "Get a session thread", "threads"},
	"POST /v1/sessions/{session_id}/threads/{thread_id}/archive":                          {"archiveThread", "Archive a child thread", "threads"},
	"GET /v1/sessions/{session_id}/threads/{thread_id}/events":                            {"listThreadEvents", "List a thread's events", "threads"},
	"GET /v1/sessions/{session_id}/threads/{thread_id}/stream":                            {"streamThread", "Stream a thread's events (SSE)", "threads"},
	"POST /v1/organizations/webhooks":                                                     {"createWebhookEndpoint", "Create a webhook endpoint (the signing secret is shown once)", "webhooks"},
	"GET /v1/organizations/webhooks":                                                      {"listWebhookEndpoints", "List webhook endpoints", "webhooks"},
	"GET /v1/organizations/webhooks/{webhook_id}":                                         {"getWebhookEndpoint", "Get a webhook endpoint", "webhooks"},
	"POST /v1/organizations/webhooks/{webhook_id}":                                        {"updateWebhookEndpoint", "Update a webhook endpoint", "webhooks"},
	"DELETE /v1/organizations/webhooks/{webhook_id}":                                      {"deleteWebhookEndpoint", "Delete a webhook endpoint and its delivery log", "webhooks"},
	"POST /v1/organizations/webhooks/{webhook_id}/regenerate_signing_secret":              {"regenerateWebhookSigningSecret", "Replace a webhook endpoint's signing secret", "webhooks"},
	"GET /v1/organizations/webhooks/{webhook_id}/deliveries":                              {"listWebhookDeliveries", "List a webhook endpoint's deliveries and attempts (Hangar extension)", "webhooks"},
	"POST /v1/vaults":                                                                     {"createVault", "Create a vault", "vaults"},
	"GET /v1/vaults":                                                                      {"listVaults", "List vaults", "vaults"},
	"GET /v1/vaults/{vault_id}":                                                           {"getVault", "Get a vault", "vaults"},
	"POST /v1/vaults/{vault_id}":                                                          {"updateVault", "Update a vault", "vaults"},
	"DELETE /v1/vaults/{vault_id}":                                                        {"deleteVault", "Delete a vault and its credentials", "vaults"},
	"POST /v1/vaults/{vault_id}/archive":                                                  {"archiveVault", "Archive a vault", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials":                                              {"createCredential", "Create a credential (secrets are write-only)", "vaults"},
	"GET /v1/vaults/{vault_id}/credentials":                                               {"listCredentials", "List a vault's credentials", "vaults"},
	"GET /v1/vaults/{vault_id}/credentials/{credential_id}":                               {"getCredential", "Get a credential", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}":                              {"updateCredential", "Update a credential", "vaults"},
	"DELETE /v1/vaults/{vault_id}/credentials/{credential_id}":                            {"deleteCredential", "Delete a credential", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive":                      {"archiveCredential", "Archive a credential and purge its secret", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}/mcp_oauth_validate":           {"validateCredential", "Probe an mcp_oauth credential against its MCP server", "vaults"},
	"POST /v1/files":                                                                      {"uploadFile", "Upload a file (multipart field \"file\")", "files"},
	"GET /v1/files":                                                                       {"listFiles", "List files", "files"},
	"GET /v1/files/{file_id}":                                                             {"getFile", "Get file metadata", "files"},
	"GET /v1/files/{file_id}/content":                                                     {"downloadFile", "Download file content", "files"},
	"DELETE /v1/files/{file_id}":                                                          {"deleteFile", "Delete a file", "files"},
	"POST /v1/skills":                                                                     {"createSkill", "Create a skill (multipart files[]: a zip, a folder's files or a SKILL.md)", "skills"},
	"GET /v1/skills":                                                                      {"listSkills", "List skills", "skills"},
	"GET /v1/skills/{skill_id}":                                                           {"getSkill", "Get a skill", "skills"},
	"DELETE /v1/skills/{skill_id}":                                                        {"deleteSkill", "Delete a skill (its versions first)", "skills"},
	"POST /v1/skills/{skill_id}/versions":                                                 {"createSkillVersion", "Upload a new version of a skill", "skills"},
	"GET /v1/skills/{skill_id}/versions":                                                  {"listSkillVersions", "List a skill's versions", "skills"},
	"GET /v1/skills/{skill_id}/versions/{version}":                                        {"getSkillVersion", "Get a skill version (by version, ID or latest)", "skills"},
	"DELETE /v1/skills/{skill_id}/versions/{version}":                                     {"deleteSkillVersion", "Delete a skill version", "skills"},
	"GET /v1/skills/{skill_id}/versions/{version}/content":                                {"downloadSkillVersion", "Download a skill version's folder as a zip", "skills"},
	"POST /v1/memory_stores":                                                              {"createMemoryStore", "Create a memory store", "memory_stores"},
	"GET /v1/memory_stores":                                                               {"listMemoryStores", "List memory stores", "memory_stores"},
	"GET /v1/memory_stores/{memory_store_id}":                                             {"getMemoryStore", "Get a memory store", "memory_stores"},
	"POST /v1/memory_stores/{memory_store_id}":                                            {"updateMemoryStore", "Update a memory store", "memory_stores"},
	"DELETE /v1/memory_stores/{memory_store_id}":                                          {"deleteMemoryStore", "Delete a memory store with its memories and versions", "memory_stores"},
	"POST /v1/memory_stores/{memory_store_id}/archive":                                    {"archiveMemoryStore", "Archive a memory store", "memory_stores"},
	"POST /v1/memory_stores/{memory_store_id}/memories":                                   {"createMemory", "Create a memory", "memory_stores"},
	"GET /v1/memory_stores/{memory_store_id}/memories":                                    {"listMemories", "List memories (?path_prefix, ?depth rolls deeper paths up into memory_prefix items)", "memory_stores"},
	"GET /v1/memory_stores/{memory_store_id}/memories/{memory_id}":                        {"getMemory", "Get a memory", "memory_stores"},
	"POST /v1/memory_stores/{memory_store_id}/memories/{memory_id}":                       {"updateMemory", "Update a memory's content or path (optional content_sha256 precondition)", "memory_stores"},
	"DELETE /v1/memory_stores/{memory_store_id}/memories/{memory_id}":                     {"deleteMemory", "Delete a memory", "memory_stores"},
	"GET /v1/memory_stores/{memory_store_id}/memory_versions":                             {"listMemoryVersions", "List memory versions", "memory_stores"},
	"GET /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}":         {"getMemoryVersion", "Get a memory version", "memory_stores"},
	"POST /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}/redact": {"redactMemoryVersion", "Redact a memory version's path and content", "memory_stores"},
	"POST /v1/deployments":                                                                {"createDeployment", "Create a deployment (agent, environment, initial events, optional cron schedule)", "deployments"},
	"GET /v1/deployments":                                                                 {"listDeployments", "List deployments", "deployments"},
	"GET /v1/deployments/{deployment_id}":                                                 {"getDeployment", "Get a deployment", "deployments"},
	"POST /v1/deployments/{deployment_id}":                                                {"updateDeployment", "Update a deployment", "deployments"},
	"POST /v1/deployments/{deployment_id}/archive":                                        {"archiveDeployment", "Archive a deployment (stops its schedule)", "deployments"},
	"POST /v1/deployments/{deployment_id}/pause":                                          {"pauseDeployment", "Pause a deployment's schedule", "deployments"},
	"POST /v1/deployments/{deployment_id}/unpause":                                        {"unpauseDeployment", "Resume a deployment's schedule", "deployments"},
	"POST /v1/deployments/{deployment_id}/run":                                            {"runDeployment", "Run a deployment now (creates a session)", "deployments"},
	"GET /v1/deployment_runs":                                                             {"listDeploymentRuns", "List deployment runs", "deployments"},
	"GET /v1/deployment_runs/{deployment_run_id}":                                         {"getDeploymentRun", "Get a deployment run", "deployments"},
	"POST /v1/dreams":                                                                     {"createDream", "Start a dream: reorganize a memory store from session transcripts (async)", "dreams"},
	"GET /v1/dreams":                                                                      {"listDreams", "List dreams, newest first", "dreams"},
	"GET /v1/dreams/{dream_id}":                                                           {"getDream", "Get a dream", "dreams"},
	"POST /v1/dreams/{dream_id}/archive":                                                  {"archiveDream", "Archive a finished dream", "dreams"},
	"POST /v1/dreams/{dream_id}/cancel":                                                   {"cancelDream", "Cancel a pending or running dream", "dreams"},
	"POST /v1/user_profiles":                                                              {"createUserProfile", "Create a user profile for an end customer", "user_profiles"},
	"GET /v1/user_profiles":                                                               {"listUserProfiles", "List user profiles", "user_profiles"},
	"GET /v1/user_profiles/{user_profile_id}":                                             {"getUserProfile", "Get a user profile", "user_profiles"},
	"POST /v1/user_profiles/{user_profile_id}":                                            {"updateUserProfile", "Update a user profile", "user_profiles"},
	"DELETE /v1/user_profiles/{user_profile_id}":                                          {"deleteUserProfile", "Delete a user profile", "user_profiles"},
	"POST /v1/user_profiles/{user_profile_id}/enrollment_url":                             {"createEnrollmentURL", "Create a signed, expiring enrollment URL on this server's console", "user_profiles"},
	"POST /v1/user_profiles/{user_profile_id}/action_urls":                                {"createActionURL", "Create a signed, expiring action URL (enroll_end_user)", "user_profiles"},
	"GET /v1/user_profiles/{user_profile_id}/providers/google/data_controls":              {"getGoogleDataControls", "Get a profile's stored Google data controls", "user_profiles"},
	"POST /v1/user_profiles/{user_profile_id}/providers/google/data_controls":             {"updateGoogleDataControls", "Update a profile's stored Google data controls", "user_profiles"},
	"POST /v1/tunnels":                                                                    {"createTunnel", "Create a tunnel (the connector token is revealed separately)", "tunnels"},
	"GET /v1/tunnels":                                                                     {"listTunnels", "List tunnels, newest first", "tunnels"},
	"GET /v1/tunnels/{tunnel_id}":                                                         {"getTunnel", "Get a tunnel", "tunnels"},
	"POST /v1/tunnels/{tunnel_id}/archive":                                                {"archiveTunnel", "Archive a tunnel and its certificates", "tunnels"},
	"POST /v1/tunnels/{tunnel_id}/reveal_token":                                           {"revealTunnelToken", "Reveal the tunnel's connector token", "tunnels"},
	"POST /v1/tunnels/{tunnel_id}/rotate_token":                                           {"rotateTunnelToken", "Rotate the tunnel's connector token", "tunnels"},
	"POST /v1/tunnels/{tunnel_id}/certificates":                                           {"createTunnelCertificate", "Register a CA certificate on a tunnel", "tunnels"},
	"GET /v1/tunnels/{tunnel_id}/certificates":                                            {"listTunnelCertificates", "List a tunnel's certificates", "tunnels"},
	"GET /v1/tunnels/{tunnel_id}/certificates/{certificate_id}":                           {"getTunnelCertificate", "Get a tunnel certificate", "tunnels"},
	"POST /v1/tunnels/{tunnel_id}/certificates/{certificate_id}/archive":                  {"archiveTunnelCertificate", "Archive a tunnel certificate", "tunnels"},
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openAPIDoc builds the OpenAPI 3.1 document from the registered routes.
func (s *Server) openAPIDoc() map[string]any {
	paths := map[string]map[string]any{}
	for _, p := range s.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok || !strings.HasPrefix(path, "/v1/") || strings.HasSuffix(path, "/") {
			continue
		}
		op := operations[p]
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		entry := map[string]any{
			"operationId": op.ID,
			"summary":     op.Summary,
			"tags":        []string{op.Tag},
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK"},
				"default": map[string]any{"description": "Error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]string{"$ref": "#/components/schemas/Error"}}}},
			},
		}
		if params != nil {
			entry["parameters"] = params
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = entry
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Hangar: Claude Managed Agents API",
			"version":     "managed-agents-2026-04-01",
			"description": "Self-hosted implementation of Anthropic's Claude Managed Agents API.",
		},
		"security": []any{map[string]any{"apiKey": []string{}}, map[string]any{"bearer": []string{}}},
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"apiKey": map[string]string{"type": "apiKey", "in": "header", "name": "x-api-key"},
				"bearer": map[string]string{"type": "http", "scheme": "bearer"},
			},
			"schemas": map[string]any{"Error": map[string]any{
				"type":     "object",
				"required": []string{"type", "error"},
				"properties": map[string]any{
					"type": map[string]string{"const": "error"},
					"error": map[string]any{"type": "object", "required": []string{"type", "message"}, "properties": map[string]any{
						"type": map[string]string{"type": "string"}, "message": map[string]string{"type": "string"},
					}},
				},
			}},
		},
		"paths": paths,
	}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	encode(w, http.StatusOK, s.openAPIDoc())
	return nil
}

// undocumented returns route patterns missing from operations and operations naming no route.
func (s *Server) undocumented() (missing, stale []string) {
	seen := map[string]bool{}
	for _, p := range s.patterns {
		if !strings.HasSuffix(p, "/") {
			seen[p] = true
			if _, ok := operations[p]; !ok {
				missing = append(missing, p)
			}
		}
	}
	for p := range operations {
		if !seen[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	return missing, stale
}
