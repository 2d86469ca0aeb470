package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Vault credentials (§3.6). A request's secret fields (token, access_token, refresh_token,
// client_secret, secret_value) are marshaled together as credSecrets and sealed with
// Config.Sealer into Credential.Sealed/KeyID. Credential.Auth holds only the public part of
// the auth object, so encoding a Credential can never reveal a secret. Secrets are decoded
// into hangar.Secret, which prints as REDACTED, and are never echoed in error messages.

const (
	authStaticBearer = hangar.AuthStaticBearer
	authMCPOAuth     = hangar.AuthMCPOAuth
	authEnvVar       = hangar.AuthEnvVar

	credMaxDisplayName  = 255
	credMaxToken        = 8192
	credMaxServerURL    = 2047
	credMaxSecretName   = 255
	credMaxSecretValue  = 16384
	credMaxOAuthField   = 2048
	credMaxAllowedHosts = 16
	credMaxHostChars    = 255
)

var credSecretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// credSecrets is the plaintext sealed into Credential.Sealed (see hangar.CredentialSecrets,
// which the runner decodes when it opens a session's model credential).
type credSecrets = hangar.CredentialSecrets

// Public auth objects: what Credential.Auth stores and responses show.

type staticBearerAuth struct {
	Type         string `json:"type"`
	MCPServerURL string `json:"mcp_server_url"`
}

type mcpOAuthAuth struct {
	Type         string            `json:"type"`
	MCPServerURL string            `json:"mcp_server_url"`
	ExpiresAt    *time.Time        `json:"expires_at"`
	Refresh      *oauthRefreshAuth `json:"refresh"`
}

type oauthRefreshAuth struct {
	TokenEndpoint     string            `json:"token_endpoint"`
	ClientID          string            `json:"client_id"`
	Scope             *string           `json:"scope"`
	Resource          *string           `json:"resource"`
	TokenEndpointAuth tokenEndpointAuth `json:"token_endpoint_auth"`
}

type tokenEndpointAuth struct {
	Type string `json:"type"`
}

type envVarAuth struct {
	Type              string            `json:"type"`
	SecretName        string            `json:"secret_name"`
	Networking        credNetworking    `json:"networking"`
	InjectionLocation injectionLocation `json:"injection_location"`
}

type credNetworking struct {
	Type         string   `json:"type"`
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

type injectionLocation struct {
	Header bool `json:"header"`
	Body   bool `json:"body"`
}

// injectionLocationParam is the optional {header?, body?} of create and update.
type injectionLocationParam struct {
	Header *bool `json:"header"`
	Body   *bool `json:"body"`
}

func (p *injectionLocationParam) applyTo(loc *injectionLocation) {
	if p == nil {
		return
	}
	if p.Header != nil {
		loc.Header = *p.Header
	}
	if p.Body != nil {
		loc.Body = *p.Body
	}
}

type createCredentialRequest struct {
	Auth        json.RawMessage   `json:"auth"`
	DisplayName *string           `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
}

type updateCredentialRequest struct {
	Auth        json.RawMessage    `json:"auth"`
	DisplayName json.RawMessage    `json:"display_name"`
	Metadata    map[string]*string `json:"metadata"`
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request) error {
	var req createCredentialRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if !present(req.Auth) {
		return invalidf("auth: field required")
	}
	if err := checkOptLen("display_name", req.DisplayName, 0, credMaxDisplayName); err != nil {
		return err
	}
	if err := validateMetadata("metadata", req.Metadata); err != nil {
		return err
	}
	parsed, err := parseCreateAuth(req.Auth)
	if err != nil {
		return err
	}
	v, err := s.store.GetVault(r.Context(), pathID(r, "vault_id"))
	if err != nil {
		return err
	}
	if v.ArchivedAt != nil {
		return invalidf("vault %s is archived; credentials cannot be added to it", v.ID)
	}
	sealed, keyID, err := s.sealSecrets(parsed.secrets)
	if err != nil {
		return err
	}
	now := s.now()
	c := &hangar.Credential{
		Type:        "vault_credential",
		ID:          s.newID(hangar.PrefixCredential),
		VaultID:     v.ID,
		DisplayName: req.DisplayName,
		Metadata:    orEmpty(req.Metadata),
		Auth:        mustJSON(parsed.public),
		CreatedAt:   now,
		UpdatedAt:   now,
		AuthType:    parsed.typ,
		Key:         parsed.key,
		Sealed:      sealed,
		KeyID:       keyID,
	}
	if err := s.store.CreateCredential(r.Context(), c); err != nil {
		return err
	}
	encode(w, http.StatusOK, credentialResponse(c))
	return nil
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	archived, err := parseBool(q, "include_archived")
	if err != nil {
		return err
	}
	vaultID := pathID(r, "vault_id")
	if _, err := s.store.GetVault(r.Context(), vaultID); err != nil {
		return err
	}
	cs, pr, err := s.store.ListCredentials(r.Context(), vaultID, hangar.VaultFilter{IncludeArchived: archived, Page: page})
	if err != nil {
		return err
	}
	data := make([]*hangar.Credential, len(cs))
	for i, c := range cs {
		data[i] = credentialResponse(c)
	}
	encode(w, http.StatusOK, listEnvelope[*hangar.Credential]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) error {
	vaultID, id := pathID(r, "vault_id"), pathID(r, "credential_id")
	c, err := s.store.GetCredential(r.Context(), vaultID, id)
	if err != nil {
		return err
	}
	if c.VaultID != vaultID {
		return hangar.NotFound("credential", id)
	}
	encode(w, http.StatusOK, credentialResponse(c))
	return nil
}

func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request) error {
	var req updateCredentialRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	name, nameSet, err := nullableString("display_name", req.DisplayName)
	if err != nil {
		return err
	}
	if err := checkOptLen("display_name", name, 0, credMaxDisplayName); err != nil {
		return err
	}
	if err := validateMetadataPatch("metadata", req.Metadata); err != nil {
		return err
	}
	vaultID, id := pathID(r, "vault_id"), pathID(r, "credential_id")
	now := s.now()
	c, err := s.store.UpdateCredential(r.Context(), vaultID, id, func(c *hangar.Credential) error {
		if c.VaultID != vaultID {
			return hangar.NotFound("credential", id)
		}
		if c.ArchivedAt != nil {
			return invalidf("credential %s is archived and cannot be updated", c.ID)
		}
		md, err := patchMetadata("metadata", c.Metadata, req.Metadata, false)
		if err != nil {
			return err
		}
		if present(req.Auth) {
			if err := s.updateAuth(c, req.Auth, now); err != nil {
				return err
			}
		}
		c.Metadata = md
		if nameSet {
			c.DisplayName = name
		}
		c.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, credentialResponse(c))
	return nil
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	vaultID, id := pathID(r, "vault_id"), pathID(r, "credential_id")
	if err := s.store.DeleteCredential(r.Context(), vaultID, id); err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "vault_credential_deleted"})
	return nil
}

// archiveCredential archives a credential and purges its secret. Archiving twice is a no-op.
func (s *Server) archiveCredential(w http.ResponseWriter, r *http.Request) error {
	vaultID, id := pathID(r, "vault_id"), pathID(r, "credential_id")
	now := s.now()
	c, err := s.store.UpdateCredential(r.Context(), vaultID, id, func(c *hangar.Credential) error {
		if c.VaultID != vaultID {
			return hangar.NotFound("credential", id)
		}
		purgeCredential(c, now)
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, credentialResponse(c))
	return nil
}

// purgeCredential marks c archived (once) and drops its sealed secret.
func purgeCredential(c *hangar.Credential, now time.Time) {
	if c.ArchivedAt == nil {
		c.ArchivedAt = &now
		c.UpdatedAt = now
	}
	c.Sealed, c.KeyID = nil, ""
}

// credentialResponse returns a copy of c fit for the wire: type set, metadata never null.
// The secret-bearing fields are not serialized (json:"-"), and are cleared here as well.
func credentialResponse(c *hangar.Credential) *hangar.Credential {
	out := *c
	out.Type = "vault_credential"
	out.Metadata = orEmpty(c.Metadata)
	out.Sealed, out.KeyID = nil, ""
	return &out
}

// sealSecrets marshals and seals sec, then wipes the plaintext buffer.
func (s *Server) sealSecrets(sec credSecrets) ([]byte, string, error) {
	if s.cfg.Sealer == nil {
		return nil, "", hangar.Errorf(hangar.KindInternal, "vault sealer is not configured")
	}
	plaintext, err := json.Marshal(sec)
	if err != nil {
		return nil, "", hangar.Errorf(hangar.KindInternal, "marshal credential secrets")
	}
	defer clear(plaintext)
	sealed, keyID, err := s.cfg.Sealer.Seal(plaintext)
	if err != nil {
		return nil, "", &hangar.Error{Kind: hangar.KindInternal, Message: "seal credential secrets", Err: err}
	}
	return sealed, keyID, nil
}

// openSecrets decrypts c's sealed secrets; it needs a Sealer that can also open.
func (s *Server) openSecrets(c *hangar.Credential) (credSecrets, error) {
	var sec credSecrets
	if len(c.Sealed) == 0 {
		return sec, nil
	}
	if s.cfg.Sealer == nil {
		return sec, hangar.Errorf(hangar.KindInternal, "vault sealer is not configured")
	}
	plaintext, err := s.cfg.Sealer.Open(c.Sealed, c.KeyID)
	if err != nil {
		return sec, &hangar.Error{Kind: hangar.KindInternal, Message: "open credential " + c.ID, Err: err}
	}
	defer clear(plaintext)
	if err := json.Unmarshal(plaintext, &sec); err != nil {
		return sec, hangar.Errorf(hangar.KindInternal, "decode secrets of credential %s", c.ID)
	}
	return sec, nil
}

// parsedAuth is a validated create-time auth object split into its parts.
type parsedAuth struct {
	typ     string
	key     string // mcp_server_url or secret_name
	public  any
	secrets credSecrets
}

func parseCreateAuth(raw json.RawMessage) (parsedAuth, error) {
	typ, err := objectType("auth", raw)
	if err != nil {
		return parsedAuth{}, err
	}
	switch typ {
	case "":
		return parsedAuth{}, invalidf("auth.type: field required")
	case authStaticBearer:
		var p struct {
			Type         string         `json:"type"`
			Token        *hangar.Secret `json:"token"`
			MCPServerURL *string        `json:"mcp_server_url"`
		}
		if err := decodeAt("auth", raw, &p); err != nil {
			return parsedAuth{}, err
		}
		if err := checkServerURL("auth.mcp_server_url", p.MCPServerURL); err != nil {
			return parsedAuth{}, err
		}
		if err := requireSecret("auth.token", p.Token, credMaxToken); err != nil {
			return parsedAuth{}, err
		}
		return parsedAuth{
			typ:     typ,
			key:     *p.MCPServerURL,
			public:  staticBearerAuth{Type: typ, MCPServerURL: *p.MCPServerURL},
			secrets: credSecrets{Token: p.Token.Reveal()},
		}, nil
	case authMCPOAuth:
		var p struct {
			Type         string          `json:"type"`
			MCPServerURL *string         `json:"mcp_server_url"`
			AccessToken  *hangar.Secret  `json:"access_token"`
			ExpiresAt    *time.Time      `json:"expires_at"`
			Refresh      json.RawMessage `json:"refresh"`
		}
		if err := decodeAt("auth", raw, &p); err != nil {
			return parsedAuth{}, err
		}
		if err := checkServerURL("auth.mcp_server_url", p.MCPServerURL); err != nil {
			return parsedAuth{}, err
		}
		if err := requireSecret("auth.access_token", p.AccessToken, credMaxToken); err != nil {
			return parsedAuth{}, err
		}
		pub := mcpOAuthAuth{Type: typ, MCPServerURL: *p.MCPServerURL, ExpiresAt: credUTC(p.ExpiresAt)}
		sec := credSecrets{AccessToken: p.AccessToken.Reveal()}
		if !isNull(p.Refresh) {
			if pub.Refresh, err = parseRefresh("auth.refresh", p.Refresh, &sec); err != nil {
				return parsedAuth{}, err
			}
		}
		return parsedAuth{typ: typ, key: pub.MCPServerURL, public: pub, secrets: sec}, nil
	case authEnvVar:
		var p struct {
			Type              string                  `json:"type"`
			SecretName        *string                 `json:"secret_name"`
			SecretValue       *hangar.Secret          `json:"secret_value"`
			Networking        json.RawMessage         `json:"networking"`
			InjectionLocation *injectionLocationParam `json:"injection_location"`
		}
		if err := decodeAt("auth", raw, &p); err != nil {
			return parsedAuth{}, err
		}
		if err := requireString("auth.secret_name", p.SecretName, 1, credMaxSecretName); err != nil {
			return parsedAuth{}, err
		}
		if !credSecretNameRE.MatchString(*p.SecretName) {
			return parsedAuth{}, invalidf("auth.secret_name: must be an environment variable name (letters, digits and _, not starting with a digit)")
		}
		if err := requireSecret("auth.secret_value", p.SecretValue, credMaxSecretValue); err != nil {
			return parsedAuth{}, err
		}
		if !present(p.Networking) {
			return parsedAuth{}, invalidf("auth.networking: field required")
		}
		nw, err := parseNetworking("auth.networking", p.Networking)
		if err != nil {
			return parsedAuth{}, err
		}
		// Header-only substitution unless asked otherwise: the narrower default.
		loc := injectionLocation{Header: true}
		p.InjectionLocation.applyTo(&loc)
		return parsedAuth{
			typ:     typ,
			key:     *p.SecretName,
			public:  envVarAuth{Type: typ, SecretName: *p.SecretName, Networking: nw, InjectionLocation: loc},
			secrets: credSecrets{SecretValue: p.SecretValue.Reveal()},
		}, nil
	}
	return parsedAuth{}, invalidf("auth.type: must be one of %s (got %q)", quoteList([]string{authStaticBearer, authMCPOAuth, authEnvVar}), typ)
}

// parseRefresh validates a full refresh object (create, or adding refresh on update) and
// stores its secrets in sec.
func parseRefresh(path string, raw json.RawMessage, sec *credSecrets) (*oauthRefreshAuth, error) {
	if jsonType(raw) != "object" {
		return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	var p struct {
		RefreshToken      *hangar.Secret  `json:"refresh_token"`
		TokenEndpoint     *string         `json:"token_endpoint"`
		ClientID          *string         `json:"client_id"`
		Scope             *string         `json:"scope"`
		Resource          *string         `json:"resource"`
		TokenEndpointAuth json.RawMessage `json:"token_endpoint_auth"`
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	if err := requireSecret(path+".refresh_token", p.RefreshToken, credMaxToken); err != nil {
		return nil, err
	}
	if p.TokenEndpoint == nil {
		return nil, invalidf("%s.token_endpoint: field required", path)
	}
	if err := checkURL(path+".token_endpoint", *p.TokenEndpoint); err != nil {
		return nil, err
	}
	if err := requireString(path+".client_id", p.ClientID, 1, credMaxOAuthField); err != nil {
		return nil, err
	}
	if err := checkOptLen(path+".scope", p.Scope, 0, credMaxOAuthField); err != nil {
		return nil, err
	}
	if err := checkOptLen(path+".resource", p.Resource, 0, credMaxOAuthField); err != nil {
		return nil, err
	}
	if !present(p.TokenEndpointAuth) {
		return nil, invalidf("%s.token_endpoint_auth: field required", path)
	}
	tea := path + ".token_endpoint_auth"
	typ, err := objectType(tea, p.TokenEndpointAuth)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "none":
		var q struct {
			Type string `json:"type"`
		}
		if err := decodeAt(tea, p.TokenEndpointAuth, &q); err != nil {
			return nil, err
		}
		sec.ClientSecret = ""
	case "client_secret_basic", "client_secret_post":
		var q struct {
			Type         string         `json:"type"`
			ClientSecret *hangar.Secret `json:"client_secret"`
		}
		if err := decodeAt(tea, p.TokenEndpointAuth, &q); err != nil {
			return nil, err
		}
		if err := requireSecret(tea+".client_secret", q.ClientSecret, credMaxToken); err != nil {
			return nil, err
		}
		sec.ClientSecret = q.ClientSecret.Reveal()
	case "":
		return nil, invalidf("%s.type: field required", tea)
	default:
		return nil, invalidf("%s.type: must be one of \"none\", \"client_secret_basic\", \"client_secret_post\" (got %q)", tea, typ)
	}
	sec.RefreshToken = p.RefreshToken.Reveal()
	return &oauthRefreshAuth{
		TokenEndpoint:     *p.TokenEndpoint,
		ClientID:          *p.ClientID,
		Scope:             credNonEmpty(p.Scope),
		Resource:          credNonEmpty(p.Resource),
		TokenEndpointAuth: tokenEndpointAuth{Type: typ},
	}, nil
}

// parseNetworking validates {type:"unrestricted"} | {type:"limited", allowed_hosts}.
func parseNetworking(path string, raw json.RawMessage) (credNetworking, error) {
	typ, err := objectType(path, raw)
	if err != nil {
		return credNetworking{}, err
	}
	var p struct {
		Type         string   `json:"type"`
		AllowedHosts []string `json:"allowed_hosts"`
	}
	switch typ {
	case "unrestricted":
		var q struct {
			Type string `json:"type"`
		}
		if err := decodeAt(path, raw, &q); err != nil {
			return credNetworking{}, err
		}
		return credNetworking{Type: typ}, nil
	case "limited":
		if err := decodeAt(path, raw, &p); err != nil {
			return credNetworking{}, err
		}
		if len(p.AllowedHosts) == 0 {
			return credNetworking{}, invalidf("%s.allowed_hosts: must list at least one host", path)
		}
		if len(p.AllowedHosts) > credMaxAllowedHosts {
			return credNetworking{}, invalidf("%s.allowed_hosts: at most %d hosts are allowed (got %d)", path, credMaxAllowedHosts, len(p.AllowedHosts))
		}
		for i, h := range p.AllowedHosts {
			if h == "" || len(h) > credMaxHostChars || strings.ContainsAny(h, "/ \t\r\n") {
				return credNetworking{}, invalidf("%s.allowed_hosts[%d]: must be a host name such as api.example.com", path, i)
			}
		}
		return credNetworking{Type: typ, AllowedHosts: p.AllowedHosts}, nil
	case "":
		return credNetworking{}, invalidf("%s.type: field required", path)
	}
	return credNetworking{}, invalidf("%s.type: must be one of \"unrestricted\", \"limited\" (got %q)", path, typ)
}

// updateAuth applies an auth update to c: the type must match, the key (mcp_server_url or
// secret_name) is immutable, and new secret values are merged into the sealed ones.
func (s *Server) updateAuth(c *hangar.Credential, raw json.RawMessage, now time.Time) error {
	typ, err := objectType("auth", raw)
	if err != nil {
		return err
	}
	if typ == "" {
		return invalidf("auth.type: field required")
	}
	if typ != c.AuthType {
		return invalidf("auth.type: a %s credential cannot become %s; create a new credential instead", c.AuthType, typ)
	}
	var changes []func(*credSecrets)
	var public any
	switch typ {
	case authStaticBearer:
		var p struct {
			Type         string         `json:"type"`
			Token        *hangar.Secret `json:"token"`
			MCPServerURL *string        `json:"mcp_server_url"`
		}
		if err := decodeAt("auth", raw, &p); err != nil {
			return err
		}
		if err := checkImmutable("auth.mcp_server_url", p.MCPServerURL, c.Key); err != nil {
			return err
		}
		if p.Token != nil {
			if err := requireSecret("auth.token", p.Token, credMaxToken); err != nil {
				return err
			}
			changes = append(changes, func(sec *credSecrets) { *sec = credSecrets{Token: p.Token.Reveal()} })
		}
	case authMCPOAuth:
		var p struct {
			Type         string          `json:"type"`
			MCPServerURL *string         `json:"mcp_server_url"`
			AccessToken  *hangar.Secret  `json:"access_token"`
			ExpiresAt    json.RawMessage `json:"expires_at"`
			Refresh      json.RawMessage `json:"refresh"`
		}
		if err := decodeAt("auth", raw, &p); err != nil {
			return err
		}
		if err := checkImmutable("auth.mcp_server_url", p.MCPServerURL, c.Key); err != nil {
			return err
		}
		var pub mcpOAuthAuth
		if err := json.Unmarshal(c.Auth, &pub); err != nil {
			return hangar.Errorf(hangar.KindInternal, "decode stored auth of credential %s", c.ID)
		}
		if p.AccessToken != nil {
			if err := requireSecret("auth.access_token", p.AccessToken, credMaxToken); err != nil {
				return err
			}
			changes = append(changes, func(sec *credSecrets) { sec.AccessToken = p.AccessToken.Reveal() })
		}
		if present(p.ExpiresAt) {
			if isNull(p.ExpiresAt) {
				pub.ExpiresAt = nil
			} else {
				var t time.Time
				if err := json.Unmarshal(p.ExpiresAt, &t); err != nil {
					return invalidf("auth.expires_at: must be an RFC 3339 timestamp")
				}
				if !t.After(now) {
					return invalidf("auth.expires_at: must be in the future")
				}
				pub.ExpiresAt = credUTC(&t)
			}
		}
		if !isNull(p.Refresh) {
			if pub.Refresh == nil {
				// No refresh configured yet: the update must carry a complete one.
				var sec credSecrets
				if pub.Refresh, err = parseRefresh("auth.refresh", p.Refresh, &sec); err != nil {
					return err
				}
				changes = append(changes, func(cur *credSecrets) {
					cur.RefreshToken, cur.ClientSecret = sec.RefreshToken, sec.ClientSecret
				})
			} else {
				ch, err := updateRefresh("auth.refresh", p.Refresh, pub.Refresh)
				if err != nil {
					return err
				}
				changes = append(changes, ch...)
			}
		}
		public = pub
	case authEnvVar:
		var p struct {
			Type              string                  `json:"type"`
			SecretName        *string                 `json:"secret_name"`
			SecretValue       *hangar.Secret          `json:"secret_value"`
			Networking        json.RawMessage         `json:"networking"`
			InjectionLocation *injectionLocationParam `json:"injection_location"`
		}
		if err := decodeAt("auth", raw, &p); err != nil {
			return err
		}
		if err := checkImmutable("auth.secret_name", p.SecretName, c.Key); err != nil {
			return err
		}
		var pub envVarAuth
		if err := json.Unmarshal(c.Auth, &pub); err != nil {
			return hangar.Errorf(hangar.KindInternal, "decode stored auth of credential %s", c.ID)
		}
		if p.SecretValue != nil {
			if err := requireSecret("auth.secret_value", p.SecretValue, credMaxSecretValue); err != nil {
				return err
			}
			changes = append(changes, func(sec *credSecrets) { *sec = credSecrets{SecretValue: p.SecretValue.Reveal()} })
		}
		if present(p.Networking) {
			if pub.Networking, err = parseNetworking("auth.networking", p.Networking); err != nil {
				return err
			}
		}
		p.InjectionLocation.applyTo(&pub.InjectionLocation)
		public = pub
	default:
		return invalidf("auth.type: unknown credential type %q", typ)
	}
	if public != nil {
		c.Auth = mustJSON(public)
	}
	if len(changes) == 0 {
		return nil
	}
	var sec credSecrets
	if c.AuthType == authMCPOAuth {
		// Several secrets live in one sealed bundle: keep the ones not being replaced.
		if sec, err = s.openSecrets(c); err != nil {
			return err
		}
	}
	for _, ch := range changes {
		ch(&sec)
	}
	c.Sealed, c.KeyID, err = s.sealSecrets(sec)
	return err
}

// updateRefresh applies {refresh_token?, scope?, token_endpoint_auth?} to an existing refresh
// configuration and returns the secret changes.
func updateRefresh(path string, raw json.RawMessage, ref *oauthRefreshAuth) ([]func(*credSecrets), error) {
	if jsonType(raw) != "object" {
		return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	var p struct {
		RefreshToken      *hangar.Secret  `json:"refresh_token"`
		Scope             *string         `json:"scope"`
		TokenEndpointAuth json.RawMessage `json:"token_endpoint_auth"`
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	var changes []func(*credSecrets)
	if p.RefreshToken != nil {
		if err := requireSecret(path+".refresh_token", p.RefreshToken, credMaxToken); err != nil {
			return nil, err
		}
		changes = append(changes, func(sec *credSecrets) { sec.RefreshToken = p.RefreshToken.Reveal() })
	}
	if p.Scope != nil {
		if err := checkLen(path+".scope", *p.Scope, 0, credMaxOAuthField); err != nil {
			return nil, err
		}
		ref.Scope = credNonEmpty(p.Scope) // "" clears the scope
	}
	if !isNull(p.TokenEndpointAuth) {
		tea := path + ".token_endpoint_auth"
		typ, err := objectType(tea, p.TokenEndpointAuth)
		if err != nil {
			return nil, err
		}
		if typ != "client_secret_basic" && typ != "client_secret_post" {
			return nil, invalidf("%s.type: must be one of \"client_secret_basic\", \"client_secret_post\" (got %q)", tea, typ)
		}
		if ref.TokenEndpointAuth.Type == "none" {
			return nil, invalidf("%s: the credential uses token_endpoint_auth none and has no client secret to replace", tea)
		}
		var q struct {
			Type         string         `json:"type"`
			ClientSecret *hangar.Secret `json:"client_secret"`
		}
		if err := decodeAt(tea, p.TokenEndpointAuth, &q); err != nil {
			return nil, err
		}
		// The stored token_endpoint_auth type is kept, as the API documents.
		if q.ClientSecret != nil {
			if err := requireSecret(tea+".client_secret", q.ClientSecret, credMaxToken); err != nil {
				return nil, err
			}
			changes = append(changes, func(sec *credSecrets) { sec.ClientSecret = q.ClientSecret.Reveal() })
		}
	}
	return changes, nil
}

func checkServerURL(field string, s *string) error {
	if s == nil {
		return invalidf("%s: field required", field)
	}
	if err := checkLen(field, *s, 1, credMaxServerURL); err != nil {
		return err
	}
	return checkURL(field, *s)
}

// checkImmutable rejects an update that changes a credential's key field.
func checkImmutable(field string, got *string, stored string) error {
	if got != nil && *got != stored {
		return invalidf("%s: is immutable (stored %q); create a new credential instead", field, stored)
	}
	return nil
}

// requireSecret checks a required secret value without ever quoting it.
func requireSecret(field string, s *hangar.Secret, max int) error {
	if s == nil {
		return invalidf("%s: field required", field)
	}
	return checkLen(field, s.Reveal(), 1, max)
}

func credNonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func credUTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
