package hangar

import (
	"encoding/json"
	"time"
)

// Environment is a sandbox template. Config is the resolved CMA config object (type,
// networking, packages) plus Hangar's provider and sandbox settings.
type Environment struct {
	Type        string            `json:"type"`
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Config      EnvironmentConfig `json:"config"`
	Metadata    map[string]string `json:"metadata"`
	Scope       string            `json:"scope,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// EnvironmentConfig is the resolved environment config.
type EnvironmentConfig struct {
	Type       string      `json:"type"` // "cloud" or "self_hosted"
	Networking *Networking `json:"networking,omitempty"`
	Packages   *Packages   `json:"packages,omitempty"`
	// Provider names the sandbox provider (Hangar extension); empty means the server default.
	Provider string `json:"provider,omitempty"`
	// Sandbox holds provider-specific settings (Hangar extension), e.g. limits or an image.
	Sandbox json.RawMessage `json:"sandbox,omitempty"`
}

// Networking is the environment's egress policy.
type Networking struct {
	Type                 string   `json:"type"` // "unrestricted" or "limited"
	AllowedHosts         []string `json:"allowed_hosts,omitempty"`
	AllowPackageManagers *bool    `json:"allow_package_managers,omitempty"`
	AllowMCPServers      *bool    `json:"allow_mcp_servers,omitempty"`
}

// Packages lists packages to install into the environment, by package manager.
type Packages struct {
	Type  string   `json:"type"`
	Apt   []string `json:"apt"`
	Cargo []string `json:"cargo"`
	Gem   []string `json:"gem"`
	Go    []string `json:"go"`
	Npm   []string `json:"npm"`
	Pip   []string `json:"pip"`
}

// EnvironmentFilter selects environments for ListEnvironments.
type EnvironmentFilter struct {
	IncludeArchived bool
	Page            Page
}
