// Package blob keeps file contents in a directory: one file per ID, written to a temporary
// file and renamed into place so readers never see a partial blob.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hangar-dev/hangar"
)

// Dir is a hangar.BlobStore over a directory.
type Dir struct {
	root string
}

var _ hangar.BlobStore = (*Dir)(nil)

// NewDir returns a Dir storing blobs in root, creating it (mode 0700) if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	return &Dir{root: root}, nil
}

// validID accepts IDs made only of ASCII letters, digits, '_' and '-' (every Hangar ID),
// so an ID can never name a path outside the directory or a temporary file.
func validID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func (d *Dir) path(id string) (string, error) {
	if !validID(id) {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "invalid file id %q", id)
	}
	return filepath.Join(d.root, id), nil
}

// Put stores the content of r under id, replacing any previous content, and returns its
// size and hex SHA-256. Nothing is left behind when reading r or writing fails.
func (d *Dir) Put(ctx context.Context, id string, r io.Reader) (size int64, sha256hex string, err error) {
	dst, err := d.path(id)
	if err != nil {
		return 0, "", err
	}
	tmp, err := os.CreateTemp(d.root, ".tmp-*")
	if err != nil {
		return 0, "", fmt.Errorf("put blob %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return 0, "", fmt.Errorf("put blob %s: %w", id, err)
	}
	if err = tmp.Sync(); err != nil {
		return 0, "", fmt.Errorf("put blob %s: %w", id, err)
	}
	if err = tmp.Close(); err != nil {
		return 0, "", fmt.Errorf("put blob %s: %w", id, err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return 0, "", fmt.Errorf("put blob %s: %w", id, err)
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// Open returns the content stored under id as an *os.File (so callers can seek);
// not_found_error when missing.
func (d *Dir) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	p, err := d.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, hangar.NotFound("file", id)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", id, err)
	}
	return f, nil
}

// Delete removes the content stored under id; not_found_error when missing.
func (d *Dir) Delete(ctx context.Context, id string) error {
	p, err := d.path(id)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return hangar.NotFound("file", id)
	}
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", id, err)
	}
	return nil
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
