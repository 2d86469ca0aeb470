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

	"POST /v1/agents":                                                {"createAgent", "Create an agent (version 1)", "agents"},
	"GET /v1/agents":                                                 {"listAgents", "List agents (latest versions)", "agents"},
	"GET /v1/agents/{agent_id}":                                      {"getAgent", "Get an agent, optionally at ?version=N", "agents"},
	"POST /v1/agents/{agent_id}":                                     {"updateAgent", "Update an agent: publishes a new version when anything changes", "agents"},
	"POST /v1/agents/{agent_id}/archive":                             {"archiveAgent", "Archive an agent", "agents"},
	"GET /v1/agents/{agent_id}/versions":                             {"listAgentVersions", "List an agent's versions", "agents"},
	"POST /v1/environments":                                          {"createEnvironment", "Create an environment", "environments"},
	"GET /v1/environments":                                           {"listEnvironments", "List environments", "environments"},
	"GET /v1/environments/{environment_id}":                          {"getEnvironment", "Get an environment", "environments"},
	"POST /v1/environments/{environment_id}":                         {"updateEnvironment", "Update an environment", "environments"},
	"DELETE /v1/environments/{environment_id}":                       {"deleteEnvironment", "Delete an environment", "environments"},
	"POST /v1/environments/{environment_id}/archive":                 {"archiveEnvironment", "Archive an environment", "environments"},
	"POST /v1/sessions":                                              {"createSession", "Create a session", "sessions"},
	"GET /v1/sessions":                                               {"listSessions", "List sessions", "sessions"},
	"GET /v1/sessions/{session_id}":                                  {"getSession", "Get a session", "sessions"},
	"POST /v1/sessions/{session_id}":                                 {"updateSession", "Update a session", "sessions"},
	"DELETE /v1/sessions/{session_id}":                               {"deleteSession", "Delete a session and its history", "sessions"},
	"POST /v1/sessions/{session_id}/archive":                         {"archiveSession", "Archive a session", "sessions"},
	"POST /v1/sessions/{session_id}/events":                          {"sendEvents", "Send user events to a session", "events"},
	"GET /v1/sessions/{session_id}/events":                           {"listEvents", "List a session's events", "events"},
	"GET /v1/sessions/{session_id}/events/stream":                    {"streamEvents", "Stream a session's events (SSE; Last-Event-ID resumes)", "events"},
	"POST /v1/vaults":                                                {"createVault", "Create a vault", "vaults"},
	"GET /v1/vaults":                                                 {"listVaults", "List vaults", "vaults"},
	"GET /v1/vaults/{vault_id}":                                      {"getVault", "Get a vault", "vaults"},
	"POST /v1/vaults/{vault_id}":                                     {"updateVault", "Update a vault", "vaults"},
	"DELETE /v1/vaults/{vault_id}":                                   {"deleteVault", "Delete a vault and its credentials", "vaults"},
	"POST /v1/vaults/{vault_id}/archive":                             {"archiveVault", "Archive a vault", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials":                         {"createCredential", "Create a credential (secrets are write-only)", "vaults"},
	"GET /v1/vaults/{vault_id}/credentials":                          {"listCredentials", "List a vault's credentials", "vaults"},
	"GET /v1/vaults/{vault_id}/credentials/{credential_id}":          {"getCredential", "Get a credential", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}":         {"updateCredential", "Update a credential", "vaults"},
	"DELETE /v1/vaults/{vault_id}/credentials/{credential_id}":       {"deleteCredential", "Delete a credential", "vaults"},
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive": {"archiveCredential", "Archive a credential and purge its secret", "vaults"},
	"POST /v1/files":                                                 {"uploadFile", "Upload a file (multipart field \"file\")", "files"},
	"GET /v1/files":                                                  {"listFiles", "List files", "files"},
	"GET /v1/files/{file_id}":                                        {"getFile", "Get file metadata", "files"},
	"GET /v1/files/{file_id}/content":                                {"downloadFile", "Download file content", "files"},
	"DELETE /v1/files/{file_id}":                                     {"deleteFile", "Delete a file", "files"},
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
