package httpapi

import "net/http"

// routes lists the whole API. Paths are exactly where Anthropic serves them.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, s.adapt(fn))
	}

	mux.HandleFunc("GET /healthz", s.healthz)
	h("GET /v1/openapi.json", s.openAPI)

	h("POST /v1/agents", s.createAgent)
	h("GET /v1/agents", s.listAgents)
	h("GET /v1/agents/{agent_id}", s.getAgent)
	h("POST /v1/agents/{agent_id}", s.updateAgent)
	h("POST /v1/agents/{agent_id}/archive", s.archiveAgent)
	h("GET /v1/agents/{agent_id}/versions", s.listAgentVersions)

	h("POST /v1/environments", s.createEnvironment)
	h("GET /v1/environments", s.listEnvironments)
	h("GET /v1/environments/{environment_id}", s.getEnvironment)
	h("POST /v1/environments/{environment_id}", s.updateEnvironment)
	h("DELETE /v1/environments/{environment_id}", s.deleteEnvironment)
	h("POST /v1/environments/{environment_id}/archive", s.archiveEnvironment)

	h("POST /v1/sessions", s.createSession)
	h("GET /v1/sessions", s.listSessions)
	h("GET /v1/sessions/{session_id}", s.getSession)
	h("POST /v1/sessions/{session_id}", s.updateSession)
	h("DELETE /v1/sessions/{session_id}", s.deleteSession)
	h("POST /v1/sessions/{session_id}/archive", s.archiveSession)

	h("POST /v1/sessions/{session_id}/events", s.sendEvents)
	h("GET /v1/sessions/{session_id}/events", s.listEvents)
	h("GET /v1/sessions/{session_id}/events/stream", s.streamEvents)

	h("POST /v1/vaults", s.createVault)
	h("GET /v1/vaults", s.listVaults)
	h("GET /v1/vaults/{vault_id}", s.getVault)
	h("POST /v1/vaults/{vault_id}", s.updateVault)
	h("DELETE /v1/vaults/{vault_id}", s.deleteVault)
	h("POST /v1/vaults/{vault_id}/archive", s.archiveVault)

	h("POST /v1/vaults/{vault_id}/credentials", s.createCredential)
	h("GET /v1/vaults/{vault_id}/credentials", s.listCredentials)
	h("GET /v1/vaults/{vault_id}/credentials/{credential_id}", s.getCredential)
	h("POST /v1/vaults/{vault_id}/credentials/{credential_id}", s.updateCredential)
	h("DELETE /v1/vaults/{vault_id}/credentials/{credential_id}", s.deleteCredential)
	h("POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive", s.archiveCredential)

	h("POST /v1/files", s.uploadFile)
	h("GET /v1/files", s.listFiles)
	h("GET /v1/files/{file_id}", s.getFile)
	h("GET /v1/files/{file_id}/content", s.downloadFile)
	h("DELETE /v1/files/{file_id}", s.deleteFile)

	// Anything else under /v1 answers in the API's error envelope.
	h("/v1/", s.notFound)
	// Everything else is the web console, which holds no secrets (the middleware asks for
	// the key under /v1/ only).
	if s.cfg.Console != nil {
		mux.Handle("/", s.cfg.Console)
	}
	return mux
}
