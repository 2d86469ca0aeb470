package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Egress attaches sessions to the egress proxy (internal/egress, adapted in cmd/hangar).
// When Config.Egress is set, the runner attaches a session just before creating its
// sandbox and detaches it when the sandbox is destroyed (Delete) or stopped (Close).
//
// Token usage the proxy observes is not added to the session here: engines report the
// usage of each model request on span.model_request_end, and that is what the session's
// usage counts (see docs/egress.md).
type Egress interface {
	// Attach opens sessionID's egress under policy, with opts' model credential (the
	// server's when opts has none). It returns an invalid_request_error for a policy it
	// cannot enforce and a conflict_error when the session is attached.
	Attach(ctx context.Context, sessionID string, policy hangar.Networking, opts EgressOptions) (*EgressAttachment, error)
}

// EgressOptions are the per-session settings of Egress.Attach.
type EgressOptions struct {
	// APIKey (sent upstream as x-api-key) or AuthToken (sent as Authorization: Bearer) is
	// the session's own model credential, from one of its vaults; both empty means the
	// server's credential.
	APIKey    hangar.Secret
	AuthToken hangar.Secret
	// OpenAIKey and GeminiKey are the session's own OpenAI and Gemini API keys (vault
	// credentials named OPENAI_API_KEY and GEMINI_API_KEY); empty means the server's.
	OpenAIKey hangar.Secret
	GeminiKey hangar.Secret
	// MCPServers are the agent's URL MCP servers with their vault credentials (mcp.go).
	MCPServers []MCPServer
}

// Secrets opens sealed vault secrets (internal/vault.Keyring, wired in cmd/hangar).
type Secrets interface {
	// Open decrypts a ciphertext sealed under keyID. It fails for a key it does not hold
	// or a ciphertext that does not open.
	Open(sealed []byte, keyID string) ([]byte, error)
}

// Secret names of environment_variable credentials that name a session's model credential,
// in the order the egress proxy prefers them.
const (
	modelAPIKeyName    = "ANTHROPIC_API_KEY"
	modelAuthTokenName = "ANTHROPIC_AUTH_TOKEN"
	openAIKeyName      = "OPENAI_API_KEY"
	geminiKeyName      = "GEMINI_API_KEY"
)

// EgressAttachment is a session's connection to the egress proxy.
type EgressAttachment struct {
	// Socket is the host path of the session's unix socket, passed to the provider as
	// provider.Spec.EgressSocket ("" when none).
	Socket string
	// TCPAddr is the session's host:port on the host loopback, used by providers that
	// are not isolated (their processes share the host network).
	TCPAddr string
	// Token is the session-scoped stand-in for the model API key.
	Token string
	// PublicURL is the base URL of the server's public egress endpoint, where sandboxes
	// of remote providers (provider.Capabilities.Remote) reach the model APIs with Token;
	// "" when the server has no public URL (HANGAR_PUBLIC_URL).
	PublicURL string
	// Close detaches the session. It may be nil.
	Close func() error
}

func (a *EgressAttachment) close() {
	if a != nil && a.Close != nil {
		a.Close()
	}
}

// attachEgress attaches the session to the egress proxy when one is configured; nil
// otherwise.
func (r *Runner) attachEgress(ctx context.Context, sess *hangar.Session, env *hangar.Environment, eng engine.Engine, caps provider.Capabilities) (*EgressAttachment, error) {
	if err := checkPairing(sess, env, eng, caps); err != nil {
		return nil, err
	}
	if r.cfg.Egress == nil {
		return nil, nil
	}
	opts, err := r.modelCredential(ctx, sess)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: "the session's model credential could not be read from its vaults", Err: err}
	}
	if opts.MCPServers, err = r.sessionMCPServers(ctx, sess); err != nil { // thread.go: with child agents' servers
		return nil, &engine.Error{Type: "unknown_error", Message: "the session's MCP server credentials could not be read from its vaults", Err: err}
	}
	att, err := r.cfg.Egress.Attach(ctx, sess.ID, egressPolicy(env.Config, &sess.Agent), opts)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: "the session's network egress could not be set up", Err: err}
	}
	if err := checkPublicURL(att, caps, env); err != nil {
		att.close()
		return nil, err
	}
	return att, nil
}

// modelCredential resolves the session's own model credentials from its vaults, taken in
// the order of session.vault_ids, one model API at a time: the first vault holding an
// active environment_variable credential named ANTHROPIC_API_KEY (preferred) or
// ANTHROPIC_AUTH_TOKEN supplies the Anthropic credential; the first holding one named
// OPENAI_API_KEY the OpenAI key; the first holding GEMINI_API_KEY the Gemini key. Vaults
// that no longer exist are skipped. An API without such a credential is left empty and
// the proxy uses the server's. Secrets are decrypted here, host-side, and go only to the
// proxy.
func (r *Runner) modelCredential(ctx context.Context, sess *hangar.Session) (EgressOptions, error) {
	var opts EgressOptions
	for _, vaultID := range sess.VaultIDs {
		anthropic := opts.APIKey != "" || opts.AuthToken != ""
		if anthropic && opts.OpenAIKey != "" && opts.GeminiKey != "" {
			break
		}
		found, err := r.findModelCredentials(ctx, vaultID)
		if hangar.IsKind(err, hangar.KindNotFound) {
			r.log.Debug("session vault not found; skipped for its model credential", "session", sess.ID, "vault", vaultID)
			continue
		}
		if err != nil {
			return EgressOptions{}, err
		}
		// take opens c into *dst unless an earlier vault already supplied *dst.
		take := func(dst *hangar.Secret, c *hangar.Credential) error {
			if c == nil || *dst != "" {
				return nil
			}
			secret, err := r.openSecretValue(c)
			if err != nil {
				return err
			}
			r.log.Debug("session uses a vault model credential", "session", sess.ID, "vault", vaultID, "credential", c.ID, "secret_name", c.Key)
			*dst = secret
			return nil
		}
		if !anthropic {
			if c := found[modelAPIKeyName]; c != nil {
				err = take(&opts.APIKey, c)
			} else {
				err = take(&opts.AuthToken, found[modelAuthTokenName])
			}
		}
		if err == nil {
			err = take(&opts.OpenAIKey, found[openAIKeyName])
		}
		if err == nil {
			err = take(&opts.GeminiKey, found[geminiKeyName])
		}
		if err != nil {
			return EgressOptions{}, err
		}
	}
	return opts, nil
}

// findModelCredentials returns vaultID's active environment_variable credentials that name
// a model credential (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, OPENAI_API_KEY,
// GEMINI_API_KEY), by secret name; the first of each name wins.
func (r *Runner) findModelCredentials(ctx context.Context, vaultID string) (map[string]*hangar.Credential, error) {
	found := map[string]*hangar.Credential{}
	page := hangar.Page{Limit: 100}
	for {
		cs, pr, err := r.store.ListCredentials(ctx, vaultID, hangar.VaultFilter{Page: page})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.ArchivedAt != nil || c.AuthType != hangar.AuthEnvVar || len(c.Sealed) == 0 {
				continue
			}
			switch c.Key {
			case modelAPIKeyName, modelAuthTokenName, openAIKeyName, geminiKeyName:
				if found[c.Key] == nil {
					found[c.Key] = c
				}
			}
		}
		if pr.Next == "" {
			return found, nil
		}
		cur, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return nil, fmt.Errorf("list credentials of vault %s: %w", vaultID, err)
		}
		page.Cursor = &cur
	}
}

// openSecretValue decrypts an environment_variable credential's secret_value.
func (r *Runner) openSecretValue(c *hangar.Credential) (hangar.Secret, error) {
	if r.cfg.Secrets == nil {
		return "", fmt.Errorf("open credential %s: no vault keyring configured", c.ID)
	}
	plaintext, err := r.cfg.Secrets.Open(c.Sealed, c.KeyID)
	if err != nil {
		return "", fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	defer clear(plaintext)
	var sec hangar.CredentialSecrets
	if err := json.Unmarshal(plaintext, &sec); err != nil {
		// The error could quote the plaintext: report only that it failed.
		return "", fmt.Errorf("decode secrets of credential %s", c.ID)
	}
	if sec.SecretValue == "" {
		return "", fmt.Errorf("credential %s has no secret_value", c.ID)
	}
	return hangar.Secret(sec.SecretValue), nil
}

// egressPolicy is the networking policy of a session: the environment's networking
// (unrestricted when unset, the API default) and, for a limited policy that allows MCP
// servers, the hosts of the agent's MCP server URLs.
func egressPolicy(cfg hangar.EnvironmentConfig, agent *hangar.Agent) hangar.Networking {
	if cfg.Networking == nil {
		return hangar.Networking{Type: "unrestricted"}
	}
	n := *cfg.Networking
	n.AllowedHosts = slices.Clone(n.AllowedHosts)
	if n.Type == "limited" && n.AllowMCPServers != nil && *n.AllowMCPServers {
		n.AllowedHosts = append(n.AllowedHosts, mcpHosts(agent.MCPServers)...)
	}
	return n
}

// mcpHosts returns the host (with its port, when the URL names one) of each URL MCP
// server in an agent's resolved mcp_servers JSON.
func mcpHosts(raw json.RawMessage) []string {
	var servers []struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(raw, &servers) != nil {
		return nil
	}
	var hosts []string
	for _, s := range servers {
		u, err := url.Parse(s.URL)
		if err != nil || u.Host == "" {
			continue
		}
		if !slices.Contains(hosts, u.Host) {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}

// engineEgress is what the engine's CLI is told about the egress proxy: inside an isolated
// sandbox the forwarder at provider.EgressAddr; on a remote machine the server's public
// endpoint (model APIs only: see remote.go); otherwise the session's host listener.
func engineEgress(att *EgressAttachment, caps provider.Capabilities) engine.Egress {
	if att == nil {
		return engine.Egress{}
	}
	if caps.Remote {
		return remoteEgress(att)
	}
	addr := att.TCPAddr
	if caps.Isolated {
		addr = provider.EgressAddr
	}
	return engine.Egress{ModelBaseURL: "http://" + addr, Token: att.Token, HTTPProxy: "http://" + addr}
}
