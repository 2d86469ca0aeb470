package httpapi

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
)

// File expiry (docs/resources.md "File expiry"): an upload with expires_in_seconds gets
// expires_at = upload time + that many seconds. From then on the file answers 404
// everywhere (metadata, content, listing, session resources, rubrics) even before the
// sweeper has removed it; SweepExpiredFiles deletes the metadata and blobs of expired
// files, and cmd/hangar runs it periodically.

// CMA's bounds of expires_in_seconds (SDK: "between 3600 (one hour) and 7776000 (ninety
// days)").
const (
	minFileExpiry = 3600
	maxFileExpiry = 7776000
)

// liveFile returns file id unless it does not exist or has expired (not_found_error).
func (s *Server) liveFile(ctx context.Context, id string) (*hangar.File, error) {
	f, err := s.store.GetFile(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.Expired(s.now()) {
		return nil, hangar.NotFound("file", id)
	}
	return f, nil
}

// SweepExpiredFiles deletes the files expired by now, metadata first, then content, and
// returns how many it deleted. It stops at the first store error; a blob that cannot be
// deleted is logged and left behind (its file is gone either way).
func (s *Server) SweepExpiredFiles(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	for {
		files, _, err := s.store.ListFiles(ctx, hangar.FileFilter{ExpiredAt: &now, Page: hangar.Page{Limit: 100}})
		if err != nil {
			return n, err
		}
		for _, f := range files {
			if err := s.store.DeleteFile(ctx, f.ID); err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
				return n, err
			}
			s.deleteBlob(ctx, f.ID)
			n++
		}
		if len(files) < 100 {
			return n, nil
		}
	}
}

// expiresAt returns the expiry of a file uploaded at now with expires_in_seconds secs
// (0: none).
func expiresAt(now time.Time, secs int64) *time.Time {
	if secs == 0 {
		return nil
	}
	t := now.Add(time.Duration(secs) * time.Second)
	return &t
}
