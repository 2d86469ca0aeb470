package hangar

import (
	"context"
	"encoding/json"
	"time"
)

// PrefixUserProfile prefixes user profile IDs.
const PrefixUserProfile = "uprof_"

// UserProfile is an end customer of the application built on Hangar (docs/user-profiles.md).
// Clients attribute work to it; the enrollment and action URLs it hands out open this
// server's console with a signed, expiring token.
type UserProfile struct {
	ID         string            `json:"id"`
	Name       *string           `json:"name"`
	AccessType string            `json:"access_type"` // application or passthrough
	Metadata   map[string]string `json:"metadata"`
	// External are the external_user_details, as the platform states them; absent keys
	// are null on the wire.
	External UserProfileExternal `json:"external_user_details"`
	// TrustGrants maps a grant name to its status (active, pending, rejected). Enrolling
	// through an enrollment or action URL grants "enrollment".
	TrustGrants map[string]string `json:"trust_grants"`
	// DataControls is the stored google_managed_data_controls state (nil: never set).
	DataControls json.RawMessage `json:"data_controls,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// UserProfileExternal are the details of a profile's entity as the platform states them.
type UserProfileExternal struct {
	AccountStatus *string    `json:"account_status"`
	Country       *string    `json:"country"`
	EmailHash     *string    `json:"email_hash"`
	EntityType    *string    `json:"entity_type"`
	NameHash      *string    `json:"name_hash"`
	OnboardedAt   *time.Time `json:"onboarded_at"`
	ReferenceID   *string    `json:"reference_id"`
}

// UserProfileFilter selects profiles for ListUserProfiles. Profiles are listed by
// creation (Page.Desc: newest first).
type UserProfileFilter struct {
	Page Page
}

// UserProfileStore persists user profiles; Store includes it. storetest's "UserProfiles"
// case pins it.
type UserProfileStore interface {
	CreateUserProfile(ctx context.Context, p *UserProfile) error
	GetUserProfile(ctx context.Context, id string) (*UserProfile, error)
	ListUserProfiles(ctx context.Context, f UserProfileFilter) ([]*UserProfile, PageResult, error)
	// UpdateUserProfile calls fn with the profile in a transaction and saves it. Errors
	// from fn are returned as they are.
	UpdateUserProfile(ctx context.Context, id string, fn func(p *UserProfile) error) (*UserProfile, error)
	DeleteUserProfile(ctx context.Context, id string) error
}
