package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

const (
	maxEnvironmentDescription = 1024
	maxAllowedHosts           = 1000
)

// environmentCreateRequest is BetaEnvironmentNewParams. config stays raw: it is a union
// (cloud | self_hosted) validated by hand with field paths.
type environmentCreateRequest struct {
	Name        *string           `json:"name"`
	Description *string           `json:"description"`
	Config      json.RawMessage   `json:"config"`
	Metadata    map[string]string `json:"metadata"`
	Scope       *string           `json:"scope"`
}

// environmentUpdateRequest is BetaEnvironmentUpdateParams: omitted fields keep their value.
type environmentUpdateRequest struct {
	Name        json.RawMessage    `json:"name"`
	Description json.RawMessage    `json:"description"`
	Config      json.RawMessage    `json:"config"`
	Metadata    map[string]*string `json:"metadata"`
	Scope       json.RawMessage    `json:"scope"`
}

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) error {
	var req environmentCreateRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := requireString("name", req.Name, 1, maxNameChars); err != nil {
		return err
	}
	if err := checkOptLen("description", req.Description, 0, maxEnvironmentDescription); err != nil {
		return err
	}
	cfg, err := resolveEnvironmentConfig("config", req.Config, nil)
	if err != nil {
		return err
	}
	if err := provider.CheckPackages(cfg.Packages); err != nil {
		return err
	}
	if err := validateMetadata("metadata", req.Metadata); err != nil {
		return err
	}
	scope := "organization"
	if req.Scope != nil {
		if err := checkOneOf("scope", *req.Scope, "organization", "account"); err != nil {
			return err
		}
		scope = *req.Scope
	}
	now := s.now()
	e := &hangar.Environment{
		Type:        "environment",
		ID:          s.newID(hangar.PrefixEnvironment),
		Name:        *req.Name,
		Description: req.Description,
		Config:      cfg,
		Metadata:    orEmpty(req.Metadata),
		Scope:       scope,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if err := s.store.CreateEnvironment(r.Context(), e); err != nil {
		return err
	}
	out := s.environmentView(e)
	if cfg.Type == "self_hosted" {
		if out.EnvironmentKey, err = s.issueEnvironmentKey(r.Context(), e.ID); err != nil { // work_queue.go
			return err
		}
		if err := s.enqueueHealthcheck(r.Context(), e.ID); err != nil { // work_queue.go
			return err
		}
	}
	encode(w, http.StatusOK, out)
	return nil
}

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 1000, false)
	if err != nil {
		return err
	}
	archived, err := parseBool(q, "include_archived")
	if err != nil {
		return err
	}
	envs, res, err := s.store.ListEnvironments(r.Context(), hangar.EnvironmentFilter{IncludeArchived: archived, Page: page})
	if err != nil {
		return err
	}
	out := listEnvelope[environmentWire]{Data: make([]environmentWire, 0, len(envs)), NextPage: strOrNil(res.Next)}
	for _, e := range envs {
		out.Data = append(out.Data, s.environmentView(e))
	}
	encode(w, http.StatusOK, out)
	return nil
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) error {
	e, err := s.store.GetEnvironment(r.Context(), pathID(r, "environment_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.environmentView(e))
	return nil
}

func (s *Server) updateEnvironment(w http.ResponseWriter, r *http.Request) error {
	var req environmentUpdateRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	// Validate what does not depend on the stored environment before the transaction.
	name, nameSet, err := nullableString("name", req.Name)
	if err != nil {
		return err
	}
	if nameSet {
		if name == nil {
			return invalidf("name: cannot be cleared")
		}
		if err := checkLen("name", *name, 1, maxNameChars); err != nil {
			return err
		}
	}
	desc, descSet, err := nullableString("description", req.Description)
	if err != nil {
		return err
	}
	if err := checkOptLen("description", desc, 0, maxEnvironmentDescription); err != nil {
		return err
	}
	scope, scopeSet, err := nullableString("scope", req.Scope)
	if err != nil {
		return err
	}
	if scope != nil {
		if err := checkOneOf("scope", *scope, "organization", "account"); err != nil {
			return err
		}
	}
	if err := validateMetadataPatch("metadata", req.Metadata); err != nil {
		return err
	}
	if present(req.Config) && !isNull(req.Config) {
		if _, err := objectType("config", req.Config); err != nil {
			return err
		}
	}
	e, err := s.store.UpdateEnvironment(r.Context(), pathID(r, "environment_id"), func(e *hangar.Environment) error {
		if e.ArchivedAt != nil {
			return conflictf("environment %s is archived and cannot be updated", e.ID)
		}
		before := *e
		if nameSet {
			e.Name = *name
		}
		if descSet {
			e.Description = desc
		}
		if scopeSet && scope != nil {
			e.Scope = *scope
		}
		cfg, err := resolveEnvironmentConfig("config", req.Config, &e.Config)
		if err != nil {
			return err
		}
		if err := provider.CheckPackages(cfg.Packages); err != nil {
			return err
		}
		e.Config = cfg
		if e.Metadata, err = patchMetadata("metadata", e.Metadata, req.Metadata, true); err != nil {
			return err
		}
		if !reflect.DeepEqual(environmentOut(&before), environmentOut(e)) {
			e.UpdatedAt = s.now()
		}
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.environmentView(e))
	return nil
}

func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "environment_id")
	if err := s.store.DeleteEnvironment(r.Context(), id); err != nil {
		return err
	}
	if err := s.endEnvironmentWork(r.Context(), id, true); err != nil { // work_queue.go
		return err
	}
	encode(w, http.StatusOK, map[string]string{"id": id, "type": "environment_deleted"})
	return nil
}

func (s *Server) archiveEnvironment(w http.ResponseWriter, r *http.Request) error {
	e, err := s.store.ArchiveEnvironment(r.Context(), pathID(r, "environment_id"), s.now())
	if err != nil {
		return err
	}
	if err := s.endEnvironmentWork(r.Context(), e.ID, false); err != nil { // work_queue.go
		return err
	}
	encode(w, http.StatusOK, s.environmentView(e))
	return nil
}

// --- config

type cloudConfigParam struct {
	Type       string          `json:"type"`
	Networking json.RawMessage `json:"networking"`
	Packages   json.RawMessage `json:"packages"`
	Provider   json.RawMessage `json:"provider"`
	Sandbox    json.RawMessage `json:"sandbox"`
}

type limitedNetworkParam struct {
	Type                 string   `json:"type"`
	AllowedHosts         []string `json:"allowed_hosts"`
	AllowPackageManagers *bool    `json:"allow_package_managers"`
	AllowMCPServers      *bool    `json:"allow_mcp_servers"`
}

type packagesParam struct {
	Type  *string  `json:"type"`
	Apt   []string `json:"apt"`
	Cargo []string `json:"cargo"`
	Gem   []string `json:"gem"`
	Go    []string `json:"go"`
	Npm   []string `json:"npm"`
	Pip   []string `json:"pip"`
}

// resolveEnvironmentConfig resolves config params against cur (nil on create). Omitted or
// null params keep cur (or give the default cloud config); within a cloud config, omitted
// fields keep their current value, and a limited networking object keeps the limited fields
// it omits. The result always has networking and all six package lists for cloud configs.
func resolveEnvironmentConfig(path string, raw json.RawMessage, cur *hangar.EnvironmentConfig) (hangar.EnvironmentConfig, error) {
	if isNull(raw) {
		if cur != nil {
			return *cur, nil
		}
		return defaultCloudConfig(nil), nil
	}
	typ, err := objectType(path, raw)
	if err != nil {
		return hangar.EnvironmentConfig{}, err
	}
	if typ == "" {
		typ = "cloud"
		if cur != nil && cur.Type != "" {
			typ = cur.Type
		}
	}
	switch typ {
	case "self_hosted":
		var p struct {
			Type string `json:"type"`
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return hangar.EnvironmentConfig{}, err
		}
		return hangar.EnvironmentConfig{Type: "self_hosted"}, nil
	case "cloud":
	default:
		return hangar.EnvironmentConfig{}, invalidf("%s.type: must be one of \"cloud\", \"self_hosted\" (got %q)", path, typ)
	}
	var p cloudConfigParam
	if err := decodeAt(path, raw, &p); err != nil {
		return hangar.EnvironmentConfig{}, err
	}
	var base *hangar.EnvironmentConfig
	if cur != nil && cur.Type == "cloud" {
		base = cur
	}
	cfg := defaultCloudConfig(base)
	if !isNull(p.Networking) {
		n, err := resolveNetworking(path+".networking", p.Networking, cfg.Networking)
		if err != nil {
			return cfg, err
		}
		cfg.Networking = n
	}
	if !isNull(p.Packages) {
		pk, err := resolvePackages(path+".packages", p.Packages, cfg.Packages)
		if err != nil {
			return cfg, err
		}
		cfg.Packages = pk
	}
	if present(p.Provider) {
		v, _, err := nullableString(path+".provider", p.Provider)
		if err != nil {
			return cfg, err
		}
		cfg.Provider = ""
		if v != nil && *v != "" {
			if !validProviderName(*v) {
				return cfg, invalidf("%s.provider: must be a provider name of lowercase letters, digits, '-' and '_' (got %q)", path, *v)
			}
			cfg.Provider = *v
		}
	}
	if present(p.Sandbox) {
		switch jsonType(p.Sandbox) {
		case "null":
			cfg.Sandbox = nil
		case "object":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(p.Sandbox, &m); err != nil {
				return cfg, invalidf("%s.sandbox: invalid object", path)
			}
			cfg.Sandbox = mustJSON(m)
		default:
			return cfg, invalidf("%s.sandbox: expected object or null, got %s", path, jsonType(p.Sandbox))
		}
	}
	if n := cfg.Networking; n.Type == "limited" && !*n.AllowPackageManagers && packageCount(cfg.Packages) > 0 {
		return cfg, invalidf("%s.packages: packages under limited networking require networking.allow_package_managers to be true", path)
	}
	return cfg, nil
}

// defaultCloudConfig returns a copy of base (a cloud config, or nil) with every part filled:
// unrestricted networking and six empty package lists by default.
func defaultCloudConfig(base *hangar.EnvironmentConfig) hangar.EnvironmentConfig {
	cfg := hangar.EnvironmentConfig{Type: "cloud"}
	if base != nil {
		cfg = *base
		cfg.Type = "cloud"
	}
	cfg.Networking = resolvedNetworking(cfg.Networking)
	cfg.Packages = resolvedPackages(cfg.Packages)
	return cfg
}

// resolvedNetworking returns a copy of n with every field set (limited: hosts, two flags).
func resolvedNetworking(n *hangar.Networking) *hangar.Networking {
	if n == nil || n.Type != "limited" {
		return &hangar.Networking{Type: "unrestricted"}
	}
	c := *n
	c.AllowedHosts = append([]string{}, n.AllowedHosts...)
	f := false
	if c.AllowPackageManagers == nil {
		c.AllowPackageManagers = &f
	} else {
		v := *c.AllowPackageManagers
		c.AllowPackageManagers = &v
	}
	if c.AllowMCPServers == nil {
		c.AllowMCPServers = &f
	} else {
		v := *c.AllowMCPServers
		c.AllowMCPServers = &v
	}
	return &c
}

// resolvedPackages returns a copy of p with type "packages" and all six lists non-nil.
func resolvedPackages(p *hangar.Packages) *hangar.Packages {
	out := &hangar.Packages{Type: "packages"}
	if p != nil {
		*out = *p
		out.Type = "packages"
	}
	for _, l := range []*[]string{&out.Apt, &out.Cargo, &out.Gem, &out.Go, &out.Npm, &out.Pip} {
		*l = append([]string{}, *l...)
	}
	return out
}

func packageCount(p *hangar.Packages) int {
	if p == nil {
		return 0
	}
	return len(p.Apt) + len(p.Cargo) + len(p.Gem) + len(p.Go) + len(p.Npm) + len(p.Pip)
}

func resolveNetworking(path string, raw json.RawMessage, cur *hangar.Networking) (*hangar.Networking, error) {
	typ, err := objectType(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "unrestricted":
		var p struct {
			Type string `json:"type"`
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return nil, err
		}
		return &hangar.Networking{Type: "unrestricted"}, nil
	case "limited":
	case "":
		return nil, invalidf("%s.type: field required", path)
	default:
		return nil, invalidf("%s.type: must be one of \"unrestricted\", \"limited\" (got %q)", path, typ)
	}
	var p limitedNetworkParam
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	n := resolvedNetworking(&hangar.Networking{Type: "limited"})
	if cur != nil && cur.Type == "limited" {
		n = resolvedNetworking(cur)
	}
	if p.AllowedHosts != nil {
		if len(p.AllowedHosts) > maxAllowedHosts {
			return nil, invalidf("%s.allowed_hosts: at most %d hosts are allowed", path, maxAllowedHosts)
		}
		for i, h := range p.AllowedHosts {
			if err := checkHost(path+".allowed_hosts["+strconv.Itoa(i)+"]", h); err != nil {
				return nil, err
			}
		}
		n.AllowedHosts = slices.Clone(p.AllowedHosts)
	}
	if p.AllowPackageManagers != nil {
		n.AllowPackageManagers = p.AllowPackageManagers
	}
	if p.AllowMCPServers != nil {
		n.AllowMCPServers = p.AllowMCPServers
	}
	return n, nil
}

func resolvePackages(path string, raw json.RawMessage, cur *hangar.Packages) (*hangar.Packages, error) {
	if jsonType(raw) != "object" {
		return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	var p packagesParam
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	if p.Type != nil {
		if err := checkOneOf(path+".type", *p.Type, "packages"); err != nil {
			return nil, err
		}
	}
	out := resolvedPackages(cur)
	for _, f := range []struct {
		name string
		in   []string
		dst  *[]string
	}{
		{"apt", p.Apt, &out.Apt}, {"cargo", p.Cargo, &out.Cargo}, {"gem", p.Gem, &out.Gem},
		{"go", p.Go, &out.Go}, {"npm", p.Npm, &out.Npm}, {"pip", p.Pip, &out.Pip},
	} {
		if f.in == nil {
			continue
		}
		if len(f.in) > maxPackageEntries {
			return nil, invalidf("%s.%s: at most %d packages are allowed", path, f.name, maxPackageEntries)
		}
		for i, pkg := range f.in {
			if err := checkPackage(path+"."+f.name+"["+strconv.Itoa(i)+"]", pkg); err != nil {
				return nil, err
			}
		}
		*f.dst = slices.Clone(f.in)
	}
	return out, nil
}

// checkPackage checks a package spec such as "pandas==2.2.0" or "golang.org/x/tools@latest".
// Specs reach package managers' command lines, so whitespace, control characters and a
// leading '-' (an option) are rejected.
func checkPackage(field, pkg string) error {
	if err := checkLen(field, pkg, 1, 256); err != nil {
		return err
	}
	if strings.HasPrefix(pkg, "-") {
		return invalidf("%s: must not start with '-' (got %q)", field, pkg)
	}
	for _, c := range pkg {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return invalidf("%s: must not contain whitespace or control characters (got %q)", field, pkg)
		}
	}
	return nil
}

func validProviderName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// --- wire form

// environmentWire is the response shape. It differs from hangar.Environment only in the
// config: a limited networking object always lists allowed_hosts (even empty), which the
// domain type's omitempty would drop.
type environmentWire struct {
	Type        string            `json:"type"`
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Config      configWire        `json:"config"`
	Metadata    map[string]string `json:"metadata"`
	Scope       string            `json:"scope,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
	// State and StateMessage are Hangar extensions: the build of config.packages (see
	// environment_build.go); omitted when there is nothing to build.
	State        string `json:"state,omitempty"`
	StateMessage string `json:"state_message,omitempty"`
	// EnvironmentKey is a Hangar extension: a self_hosted environment's worker key, in the
	// create and rotate_key responses only (work_queue.go, docs/self-hosted.md).
	EnvironmentKey string `json:"environment_key,omitempty"`
}

type configWire struct {
	Type       string           `json:"type"`
	Networking any              `json:"networking,omitempty"`
	Packages   *hangar.Packages `json:"packages,omitempty"`
	Provider   string           `json:"provider,omitempty"`
	Sandbox    json.RawMessage  `json:"sandbox,omitempty"`
}

type unrestrictedWire struct {
	Type string `json:"type"`
}

type limitedWire struct {
	Type                 string   `json:"type"`
	AllowedHosts         []string `json:"allowed_hosts"`
	AllowPackageManagers bool     `json:"allow_package_managers"`
	AllowMCPServers      bool     `json:"allow_mcp_servers"`
}

func environmentOut(e *hangar.Environment) environmentWire {
	out := environmentWire{
		Type:        "environment",
		ID:          e.ID,
		Name:        e.Name,
		Description: e.Description,
		Metadata:    orEmpty(e.Metadata),
		Scope:       e.Scope,
		CreatedAt:   e.CreatedAt,
		UpdatedAt:   e.UpdatedAt,
		ArchivedAt:  e.ArchivedAt,
	}
	if e.Config.Type == "self_hosted" {
		out.Config = configWire{Type: "self_hosted"}
		return out
	}
	cfg := defaultCloudConfig(&e.Config)
	out.Config = configWire{Type: "cloud", Packages: cfg.Packages, Provider: cfg.Provider, Sandbox: cfg.Sandbox}
	if n := cfg.Networking; n.Type == "limited" {
		out.Config.Networking = limitedWire{
			Type:                 "limited",
			AllowedHosts:         n.AllowedHosts,
			AllowPackageManagers: *n.AllowPackageManagers,
			AllowMCPServers:      *n.AllowMCPServers,
		}
	} else {
		out.Config.Networking = unrestrictedWire{Type: "unrestricted"}
	}
	return out
}
