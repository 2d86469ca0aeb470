package httpapi

import "net/http"

// routes lists the whole API. Paths are exactly where Anthropic serves them.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, s.adapt(s.withLifecycleWebhook(pattern, fn))) // webhook_lifecycle.go
	}

	mux.HandleFunc("GET /healthz", s.healthz)
	h("GET /v1/openapi.json", s.openAPI)

	h("POST /v1/agents", s.createAgent)
	h("GET /v1/agents", s.listAgents)
	h("GET /v1/agents/{agent_id}", s.getAgent)
	h("POST /v1/agents/{agent_id}", s.updateAgent)
	h("POST /v1/agents/{agent_id}/archive", s.archiveAgent)
	h("GET /v1/agents/{agent_id}/versions", s.listAgentVersions)
	h("POST /v1/agents/{agent_id}/webhook_secret/rotate", s.rotateAgentWebhookSecret) // agent_webhook_rotate.go

	h("POST /v1/environments", s.createEnvironment)
	h("GET /v1/environments", s.listEnvironments)
	h("GET /v1/environments/{environment_id}", s.getEnvironment)
	h("POST /v1/environments/{environment_id}", s.updateEnvironment)
	h("DELETE /v1/environments/{environment_id}", s.deleteEnvironment)
	h("POST /v1/environments/{environment_id}/archive", s.archiveEnvironment)
	h("GET /v1/environments/{environment_id}/build_log", s.environmentBuildLog)
	// The self-hosted work queue, W1–W8 (work.go, docs/self-hosted.md).
	h("GET /v1/environments/{environment_id}/work/poll", s.pollWork)
	h("POST /v1/environments/{environment_id}/work/{work_id}/ack", s.ackWork)
	h("POST /v1/environments/{environment_id}/work/{work_id}/heartbeat", s.heartbeatWork)
	h("POST /v1/environments/{environment_id}/work/{work_id}/stop", s.stopWork)
	h("GET /v1/environments/{environment_id}/work", s.listWork)
	h("GET /v1/environments/{environment_id}/work/{work_id}", s.getWork)
	h("POST /v1/environments/{environment_id}/work/{work_id}", s.updateWork)
	h("GET /v1/environments/{environment_id}/work/stats", s.workStats)
	h("POST /v1/environments/{environment_id}/rotate_key", s.rotateEnvironmentKey)
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
	// Session threads, T1–T5 (thread.go, docs/threads.md).
	h("GET /v1/sessions/{session_id}/threads", s.listThreads)
	h("GET /v1/sessions/{session_id}/threads/{thread_id}", s.getThread)
	h("POST /v1/sessions/{session_id}/threads/{thread_id}/archive", s.archiveThread)
	h("GET /v1/sessions/{session_id}/threads/{thread_id}/events", s.listThreadEvents)
	h("GET /v1/sessions/{session_id}/threads/{thread_id}/stream", s.streamThread)

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
	h("POST /v1/vaults/{vault_id}/credentials/{credential_id}/mcp_oauth_validate", s.validateCredential)

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

	// Dreams (dream.go, docs/dreams.md).
	h("POST /v1/dreams", s.createDream)
	h("GET /v1/dreams", s.listDreams)
	h("GET /v1/dreams/{dream_id}", s.getDream)
	h("POST /v1/dreams/{dream_id}/archive", s.archiveDream)
	h("POST /v1/dreams/{dream_id}/cancel", s.cancelDream)

	// User profiles (user_profile.go, enroll.go, docs/user-profiles.md). The enrollment
	// page a signed URL opens is for end customers: outside /v1, no API key.
	h("POST /v1/user_profiles", s.createUserProfile)
	h("GET /v1/user_profiles", s.listUserProfiles)
	h("GET /v1/user_profiles/{user_profile_id}", s.getUserProfile)
	h("POST /v1/user_profiles/{user_profile_id}", s.updateUserProfile)
	h("DELETE /v1/user_profiles/{user_profile_id}", s.deleteUserProfile)
	h("POST /v1/user_profiles/{user_profile_id}/enrollment_url", s.createEnrollmentURL)
	h("POST /v1/user_profiles/{user_profile_id}/action_urls", s.createActionURL)
	h("GET /v1/user_profiles/{user_profile_id}/providers/google/data_controls", s.getGoogleDataControls)
	h("POST /v1/user_profiles/{user_profile_id}/providers/google/data_controls", s.updateGoogleDataControls)
	mux.HandleFunc("GET /enroll/{token}", s.enrollment)
	mux.HandleFunc("POST /enroll/{token}", s.enrollment)

	// Tunnels and their CA certificates (tunnel.go, docs/tunnels.md).
	h("POST /v1/tunnels", s.createTunnel)
	h("GET /v1/tunnels", s.listTunnels)
	h("GET /v1/tunnels/{tunnel_id}", s.getTunnel)
	h("POST /v1/tunnels/{tunnel_id}/archive", s.archiveTunnel)
	h("POST /v1/tunnels/{tunnel_id}/reveal_token", s.revealTunnelToken)
	h("POST /v1/tunnels/{tunnel_id}/rotate_token", s.rotateTunnelToken)
	h("POST /v1/tunnels/{tunnel_id}/certificates", s.createTunnelCertificate)
	h("GET /v1/tunnels/{tunnel_id}/certificates", s.listTunnelCertificates)
	h("GET /v1/tunnels/{tunnel_id}/certificates/{certificate_id}", s.getTunnelCertificate)
	h("POST /v1/tunnels/{tunnel_id}/certificates/{certificate_id}/archive", s.archiveTunnelCertificate)

	// Anything else under /v1 answers in the API's error envelope.
	h("/v1/", s.notFound)
	// Everything else is the web console, which holds no secrets (the middleware asks for
	// the key under /v1/ only).
	if s.cfg.Console != nil {
		mux.Handle("/", s.cfg.Console)
	}
	return mux
}
