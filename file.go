package hangar

import "time"

// File is the metadata of an uploaded or session-produced file. The blob lives in a
// BlobStore (the data dir by default).
type File struct {
	Type         string     `json:"type"`
	ID           string     `json:"id"`
	Filename     string     `json:"filename"`
	MimeType     string     `json:"mime_type"`
	SizeBytes    int64      `json:"size_bytes"`
	CreatedAt    time.Time  `json:"created_at"`
	Downloadable bool       `json:"downloadable"`
	Scope        *FileScope `json:"scope,omitempty"`
	// ExpiresAt is when an upload with expires_in_seconds expires (nil: never). An expired
	// file answers 404 and a sweeper deletes it (docs/resources.md "File expiry").
	ExpiresAt *time.Time `json:"expires_at"`
	SHA256    string     `json:"-"`
}

// Expired reports whether f has expired at now.
func (f *File) Expired(now time.Time) bool {
	return f.ExpiresAt != nil && !now.Before(*f.ExpiresAt)
}

// FileScope ties a file to a session (outputs).
type FileScope struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// FileFilter selects files for ListFiles.
type FileFilter struct {
	ScopeID string
	IDs     []string
	// LiveAt keeps only files not expired at that time; ExpiredAt only files expired by
	// then (the sweeper). nil: no condition.
	LiveAt    *time.Time
	ExpiredAt *time.Time
	Page      Page
}
