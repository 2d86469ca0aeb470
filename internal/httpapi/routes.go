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
	h("GET /v1/environments/{environment_id}/build_log", s.environmentBuildLog)
	h("GET /v1/providers", s.listProviders)

	h("POST /v1/sessions", s.createSession)
	h("GET /v1/sessions", s.listSessions)
	h("GET /v1/sessions/{session_id}", s.getSession)
	h("POST /v1/sessions/{session_id}", s.updateSession)
	h("DELETE /v1/sessions/{session_id}", s.deleteSession)
	h("POST /v1/sessions/{session_id}/archive", s.archiveSession)

	h("POST /v1/sessions/{session_id}/resources", s.addSessionResource)
	h("GET /v1/sessions/{session_id}/resources", s.listSessionResources)
	h("GET /v1/sessions/{session_id}/resources/{resource_id}", s.getSessionResource)
	h("POST /v1/sessions/{session_id}/resources/{resource_id}", s.updateSessionResource)
	h("DELETE /v1/sessions/{session_id}/resources/{resource_id}", s.deleteSessionResource)

	h("POST /v1/sessions/{session_id}/events", s.sendEvents)
	h("GET /v1/sessions/{session_id}/events", s.listEvents)
	h("GET /v1/sessions/{session_id}/events/stream", s.streamEvents)

	// Organization webhook endpoints (webhook.go, docs/webhooks.md).
	h("POST /v1/organizations/webhooks", s.createWebhook)
	h("GET /v1/organizations/webhooks", s.listWebhooks)
	h("GET /v1/organizations/webhooks/{webhook_id}", s.getWebhook)
	h("POST /v1/organizations/webhooks/{webhook_id}", s.updateWebhook)
	h("DELETE /v1/organizations/webhooks/{webhook_id}", s.deleteWebhook)
	h("POST /v1/organizations/webhooks/{webhook_id}/regenerate_signing_secret", s.regenerateWebhookSecret)
	h("GET /v1/organizations/webhooks/{webhook_id}/deliveries", s.listWebhookDeliveries)

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

	h("POST /v1/skills", s.createSkill)
	h("GET /v1/skills", s.listSkills)
	h("GET /v1/skills/{skill_id}", s.getSkill)
	h("DELETE /v1/skills/{skill_id}", s.deleteSkill)
	h("POST /v1/skills/{skill_id}/versions", s.createSkillVersion)
	h("GET /v1/skills/{skill_id}/versions", s.listSkillVersions)
	h("GET /v1/skills/{skill_id}/versions/{version}", s.getSkillVersion)
	h("DELETE /v1/skills/{skill_id}/versions/{version}", s.deleteSkillVersion)
	h("GET /v1/skills/{skill_id}/versions/{version}/content", s.downloadSkillVersion)

	h("POST /v1/memory_stores", s.createMemoryStore)
	h("GET /v1/memory_stores", s.listMemoryStores)
	h("GET /v1/memory_stores/{memory_store_id}", s.getMemoryStore)
	h("POST /v1/memory_stores/{memory_store_id}", s.updateMemoryStore)
	h("DELETE /v1/memory_stores/{memory_store_id}", s.deleteMemoryStore)
	h("POST /v1/memory_stores/{memory_store_id}/archive", s.archiveMemoryStore)
	h("POST /v1/memory_stores/{memory_store_id}/memories", s.createMemory)
	h("GET /v1/memory_stores/{memory_store_id}/memories", s.listMemories)
	h("GET /v1/memory_stores/{memory_store_id}/memories/{memory_id}", s.getMemory)
	h("POST /v1/memory_stores/{memory_store_id}/memories/{memory_id}", s.updateMemory)
	h("DELETE /v1/memory_stores/{memory_store_id}/memories/{memory_id}", s.deleteMemory)
	h("GET /v1/memory_stores/{memory_store_id}/memory_versions", s.listMemoryVersions)
	h("GET /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}", s.getMemoryVersion)
	h("POST /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}/redact", s.redactMemoryVersion)

	// Deployments and their runs (deployment.go, docs/deployments.md).
	h("POST /v1/deployments", s.createDeployment)
	h("GET /v1/deployments", s.listDeployments)
	h("GET /v1/deployments/{deployment_id}", s.getDeployment)
	h("POST /v1/deployments/{deployment_id}", s.updateDeployment)
	h("POST /v1/deployments/{deployment_id}/archive", s.archiveDeployment)
	h("POST /v1/deployments/{deployment_id}/pause", s.pauseDeployment)
	h("POST /v1/deployments/{deployment_id}/unpause", s.unpauseDeployment)
	h("POST /v1/deployments/{deployment_id}/run", s.runDeployment)
	h("GET /v1/deployment_runs", s.listDeploymentRuns)
	h("GET /v1/deployment_runs/{deployment_run_id}", s.getDeploymentRun)

	// Anything else under /v1 answers in the API's error envelope.
	h("/v1/", s.notFound)
	// Everything else is the web console, which holds no secrets (the middleware asks for
	// the key under /v1/ only).
	if s.cfg.Console != nil {
		mux.Handle("/", s.cfg.Console)
	}
	return mux
}
