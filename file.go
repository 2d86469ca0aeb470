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
	SHA256       string     `json:"-"`
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
	Page    Page
}
