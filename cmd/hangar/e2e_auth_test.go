package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// errorEnvelope is the API's error body.
type errorEnvelope struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func TestE2EAuthRaw(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)

	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       string
		wantStatus int
		wantType   string // error type for non-2xx
	}{
		{"x-api-key", "GET", "/v1/agents", map[string]string{"x-api-key": testAPIKey}, "", 200, ""},
		{"bearer", "GET", "/v1/agents", map[string]string{"Authorization": "Bearer " + testAPIKey}, "", 200, ""},
		{"bearer lower case scheme", "GET", "/v1/agents", map[string]string{"Authorization": "bearer " + testAPIKey}, "", 200, ""},
		{"wrong x-api-key", "GET", "/v1/agents", map[string]string{"x-api-key": "nope"}, "", 401, "authentication_error"},
		{"wrong bearer", "GET", "/v1/agents", map[string]string{"Authorization": "Bearer nope"}, "", 401, "authentication_error"},
		{"no credentials", "GET", "/v1/agents", nil, "", 401, "authentication_error"},
		{"basic scheme is not a key", "GET", "/v1/agents", map[string]string{"Authorization": "Basic " + testAPIKey}, "", 401, "authentication_error"},
		{"wrong key on a stream", "GET", "/v1/sessions/sesn_x/events/stream", map[string]string{"x-api-key": "nope"}, "", 401, "authentication_error"},
		{"beta=true is ignored on list", "GET", "/v1/agents?beta=true", map[string]string{"x-api-key": testAPIKey}, "", 200, ""},
		{"beta=true is ignored on create", "POST", "/v1/environments?beta=true", map[string]string{"x-api-key": testAPIKey, "Content-Type": "application/json"}, `{"name":"via-beta-query"}`, 200, ""},
		{"old anthropic-version and beta headers", "GET", "/v1/vaults", map[string]string{
			"x-api-key": testAPIKey, "anthropic-version": "2023-06-01", "anthropic-beta": "managed-agents-2026-04-01,files-api-2025-04-14",
		}, "", 200, ""},
		{"unknown route", "GET", "/v1/nothing-here", map[string]string{"x-api-key": testAPIKey}, "", 404, "not_found_error"},
		{"health needs no key", "GET", "/healthz", nil, "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(ctx, tt.method, srv.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, raw)
			}
			if strings.HasPrefix(tt.path, "/v1/") && resp.Header.Get("request-id") == "" {
				t.Errorf("no request-id header")
			}
			if tt.wantType == "" {
				return
			}
			var env errorEnvelope
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("error body is not JSON: %s", raw)
			}
			if env.Type != "error" || env.Error.Type != tt.wantType || env.Error.Message == "" {
				t.Errorf("error body = %s, want type %s", raw, tt.wantType)
			}
			if env.RequestID != resp.Header.Get("request-id") {
				t.Errorf("body request_id %q != header %q", env.RequestID, resp.Header.Get("request-id"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("error Content-Type = %q", ct)
			}
		})
	}
}

func TestE2EAuthSDK(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := testContext(t)

	tests := []struct {
		name   string
		client anthropic.Client
		wantOK bool
	}{
		{"bearer via WithAPIKey", srv.Client, true},
		{"bearer via WithAuthToken", newClient(srv.URL, option.WithAuthToken(testAPIKey)), true},
		{"x-api-key header only", anthropic.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(srv.URL),
			option.WithMaxRetries(0), option.WithHeader("x-api-key", testAPIKey)), true},
		{"beta=true query", newClient(srv.URL, option.WithAPIKey(testAPIKey), option.WithQuery("beta", "true")), true},
		{"wrong key", newClient(srv.URL, option.WithAPIKey("wrong-key")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
			if tt.wantOK {
				if err != nil {
					t.Fatalf("list agents: %v", err)
				}
				env, err := tt.client.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: tt.name})
				if err != nil {
					t.Fatalf("create environment: %v", err)
				}
				if env.Name != tt.name {
					t.Errorf("env = %s", env.RawJSON())
				}
				return
			}
			apiErr := wantStatus(t, err, http.StatusUnauthorized, "authentication_error")
			if apiErr.Message == "" {
				t.Errorf("401 without a message: %s", apiErr.RawJSON())
			}
		})
	}
}
