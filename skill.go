package hangar

import (
	"context"
	"time"
)

// ID prefixes of skills (§3.8 of the API reference).
const (
	PrefixSkill        = "skill_"
	PrefixSkillVersion = "skillver_"
)

// Skill is a custom skill: a named, versioned directory holding a SKILL.md (instructions
// with a name/description frontmatter) and supporting files. The content of each version
// lives in the BlobStore as a zip, under the version's ID.
type Skill struct {
	Type        string      `json:"type"`
	ID          string      `json:"id"`
	DisplayName string      `json:"display_name"`
	Source      SkillSource `json:"source"`
	// LatestVersionID and LatestVersion name the newest remaining version ("" when none).
	LatestVersionID string    `json:"latest_version_id"`
	LatestVersion   string    `json:"latest_version"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// SkillSource says who made a skill: "custom" for every uploaded skill.
type SkillSource struct {
	Type string `json:"type"`
}

// SkillVersion is one immutable upload of a skill.
type SkillVersion struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	SkillID string `json:"skill_id"`
	// Version is the version's name: the creation time in Unix microseconds, as a
	// string, as Anthropic names them.
	Version     string `json:"version"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Directory is the top-level directory of the upload (the skill's folder name).
	Directory string    `json:"directory"`
	CreatedAt time.Time `json:"created_at"`
	// SizeBytes and SHA256 describe the stored zip.
	SizeBytes int64  `json:"-"`
	SHA256    string `json:"-"`
}

// SkillFilter selects skills for ListSkills.
type SkillFilter struct {
	Source string // "" = any
	Page   Page
}

// SkillStore persists skills and their versions; Store includes it. storetest's "Skills"
// case pins it.
type SkillStore interface {
	// CreateSkill stores a new skill with its first version v in one transaction; it sets
	// the skill's latest version fields from v. Conflict when an ID is taken.
	CreateSkill(ctx context.Context, s *Skill, v *SkillVersion) error
	GetSkill(ctx context.Context, id string) (*Skill, error)
	// ListSkills lists skills newest first unless Page says otherwise (Page.Desc).
	ListSkills(ctx context.Context, f SkillFilter) ([]*Skill, PageResult, error)
	// DeleteSkill deletes a skill; conflict while it has versions (as Anthropic: delete
	// the versions first).
	DeleteSkill(ctx context.Context, id string) error
	// CreateSkillVersion adds a version to skill v.SkillID and makes it the latest
	// (UpdatedAt = v.CreatedAt). Conflict when the skill already has v.Version.
	CreateSkillVersion(ctx context.Context, v *SkillVersion) (*Skill, error)
	// GetSkillVersion returns the version of a skill named by its Version string or ID;
	// "latest" names the latest one.
	GetSkillVersion(ctx context.Context, skillID, version string) (*SkillVersion, error)
	// ListSkillVersions lists a skill's versions (Page.Desc: newest first).
	ListSkillVersions(ctx context.Context, skillID string, p Page) ([]*SkillVersion, PageResult, error)
	// DeleteSkillVersion deletes a version (named as in GetSkillVersion) and returns it;
	// the skill's latest version becomes the newest remaining one.
	DeleteSkillVersion(ctx context.Context, skillID, version string) (*SkillVersion, error)
}
