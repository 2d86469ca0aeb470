package egress_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

func TestValidateMCPOAuth(t *testing.T) {
	tests := []struct {
		name        string
		expired     bool
		refresh     bool
		revoked     bool // the MCP server no longer accepts the stored token
		failRefresh int
		down        bool // the MCP server is unreachable
		wantStatus  string
		wantRefresh string // "" for no refresh attempted
		wantProbe   int    // the probe's captured status; -1 for no probe failure, 0 for none captured
		wantToken   string // the stored access token afterwards
	}{
		{name: "valid", refresh: true, wantStatus: "valid", wantProbe: -1, wantToken: "at-0"},
		{name: "expired, refreshable", expired: true, refresh: true, wantStatus: "valid", wantRefresh: "succeeded", wantProbe: -1, wantToken: "at-1"},
		{name: "rejected, refreshable", revoked: true, refresh: true, wantStatus: "valid", wantRefresh: "succeeded", wantProbe: -1, wantToken: "at-1"},
		{name: "expired, refresh fails", expired: true, refresh: true, failRefresh: 400, wantStatus: "invalid", wantRefresh: "failed", wantProbe: -1, wantToken: "at-0"},
		{name: "rejected, no refresh token", revoked: true, wantStatus: "invalid", wantRefresh: "no_refresh_token", wantProbe: 401, wantToken: "at-0"},
		{name: "server unreachable", refresh: true, down: true, wantStatus: "unknown", wantProbe: 0, wantToken: "at-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOAuthWorld(t)
			w.fail = tt.failRefresh
			exp := w.now.Add(time.Hour)
			if tt.expired {
				exp = w.now.Add(-time.Hour)
			}
			c := w.addCredential(&exp, tt.refresh, "none")
			if tt.revoked {
				w.valid = "at-revoked"
			}
			if tt.down {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close() // nothing listens there now
				c.Auth = []byte(strings.ReplaceAll(string(c.Auth), w.mcp.URL, "http://"+addr))
			}
			v, err := w.oauth.ValidateMCPOAuth(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if v.Type != "vault_credential_validation" || v.CredentialID != "vcrd_1" || v.VaultID != "vlt_1" || !v.ValidatedAt.Equal(w.now) {
				t.Errorf("header fields %+v", v)
			}
			if v.Status != tt.wantStatus || v.HasRefreshToken != tt.refresh {
				t.Errorf("status %q has_refresh_token %v, want %q %v", v.Status, v.HasRefreshToken, tt.wantStatus, tt.refresh)
			}
			switch {
			case tt.wantRefresh == "" && v.Refresh != nil:
				t.Errorf("refresh %+v, want none", v.Refresh)
			case tt.wantRefresh != "" && (v.Refresh == nil || v.Refresh.Status != tt.wantRefresh):
				t.Errorf("refresh %+v, want %s", v.Refresh, tt.wantRefresh)
			}
			if tt.wantRefresh == "failed" {
				r := v.Refresh.HTTPResponse
				if r == nil || r.StatusCode != 400 || !strings.Contains(r.Body, "invalid_grant") || r.ContentType != "application/json" {
					t.Errorf("captured token endpoint response %+v", r)
				} else if strings.Contains(r.Body, "rt-LEAKED") {
					t.Errorf("captured body not scrubbed: %s", r.Body)
				}
			}
			switch {
			case tt.wantProbe == -1 && v.MCPProbe != nil:
				t.Errorf("mcp_probe %+v, want none", v.MCPProbe)
			case tt.wantProbe >= 0 && (v.MCPProbe == nil || v.MCPProbe.Method != "initialize"):
				t.Errorf("mcp_probe %+v, want initialize", v.MCPProbe)
			case tt.wantProbe == 0 && v.MCPProbe.HTTPResponse != nil:
				t.Errorf("mcp_probe response %+v, want none", v.MCPProbe.HTTPResponse)
			case tt.wantProbe > 0 && (v.MCPProbe.HTTPResponse == nil || v.MCPProbe.HTTPResponse.StatusCode != tt.wantProbe):
				t.Errorf("mcp_probe response %+v, want %d", v.MCPProbe.HTTPResponse, tt.wantProbe)
			}
			if sec, _, _ := w.stored(); sec.AccessToken != tt.wantToken {
				t.Errorf("stored token %q, want %q", sec.AccessToken, tt.wantToken)
			}
			_ = hangar.ValidationValid
		})
	}
}
