package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Files (§3.8). Uploads are multipart (part "file", optional "expires_in_seconds"); the
// content goes to Config.Blobs under the file ID and the metadata to the store. The list
// answers the union envelope {data, has_more, first_id, last_id, next_page} so both the
// cursor (page) and the legacy before_id/after_id clients can page through it.

const (
	fileMaxFilename = 500
	fileMaxIDs      = 1000
	// fileFormOverhead bounds the non-file parts and multipart framing of an upload.
	fileFormOverhead = 1 << 20
	// fileScanPage is the store page size used to find a before_id/after_id anchor.
	fileScanPage = 1000
)

// errFileTooLarge is returned by fileCapReader once more than the cap has been read.
var errFileTooLarge = errors.New("file exceeds the size limit")

// fileListEnvelope is the union of the cursor and the legacy Files list shapes.
type fileListEnvelope struct {
	Data     []*hangar.File `json:"data"`
	HasMore  bool           `json:"has_more"`
	FirstID  *string        `json:"first_id"`
	LastID   *string        `json:"last_id"`
	NextPage *string        `json:"next_page"`
}

func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxFileBytes+fileFormOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		return invalidf("request must be multipart/form-data with a \"file\" part")
	}
	if s.cfg.Blobs == nil {
		return hangar.Errorf(hangar.KindInternal, "file storage is not configured")
	}
	f := &hangar.File{Type: "file", ID: s.newID(hangar.PrefixFile), Downloadable: true}
	seen, stored := false, false
	var expiresIn int64
	// Any failure once the blob store has been written to removes the blob again.
	defer func() {
		if stored {
			s.deleteBlob(ctx, f.ID)
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return multipartError(err)
		}
		switch part.FormName() {
		case "file":
			if seen {
				return invalidf("file: only one file may be uploaded per request")
			}
			seen = true
			if stored, err = s.storeUpload(ctx, part, f); err != nil {
				return err
			}
		case "expires_in_seconds":
			if expiresIn, err = readExpiresIn(part); err != nil {
				return err
			}
		}
		// Other parts are ignored, as unknown query parameters are.
	}
	if !seen {
		return invalidf("file: field required")
	}
	f.CreatedAt = s.now()
	f.ExpiresAt = expiresAt(f.CreatedAt, expiresIn) // file_expiry.go
	if err := s.store.CreateFile(ctx, f); err != nil {
		return err
	}
	stored = false // keep the blob
	encode(w, http.StatusOK, fileResponse(f))
	return nil
}

// storeUpload streams one "file" part into the blob store and fills f's content fields.
// putStarted reports whether the blob store was written to (and needs cleaning up on error).
func (s *Server) storeUpload(ctx context.Context, part *multipart.Part, f *hangar.File) (putStarted bool, err error) {
	name := part.FileName()
	if name == "" || name == "." || name == string(filepath.Separator) {
		return false, invalidf("file: the part must carry a filename (Content-Disposition: form-data; name=\"file\"; filename=\"...\")")
	}
	if err := checkLen("file.filename", name, 1, fileMaxFilename); err != nil {
		return false, err
	}
	br := bufio.NewReaderSize(part, 512)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return false, multipartError(err)
	}
	f.Filename = name
	f.MimeType = uploadMimeType(part.Header.Get("Content-Type"), name, head)
	size, sum, err := s.cfg.Blobs.Put(ctx, f.ID, &fileCapReader{r: br, left: s.cfg.MaxFileBytes})
	if err != nil {
		if errors.Is(err, errFileTooLarge) {
			return true, hangar.Errorf(hangar.KindTooLarge, "file: exceeds the maximum size of %d bytes", s.cfg.MaxFileBytes)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return true, hangar.Errorf(hangar.KindTooLarge, "file: exceeds the maximum size of %d bytes", s.cfg.MaxFileBytes)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return true, invalidf("file: the multipart body ended early")
		}
		return true, fmt.Errorf("store file %s: %w", f.ID, err)
	}
	f.SizeBytes, f.SHA256 = size, sum
	return true, nil
}

// uploadMimeType takes the part's Content-Type when it says something more precise than
// application/octet-stream, else guesses from the file extension, else sniffs the content.
// Parameters (charset...) are dropped: mime_type is a bare media type.
func uploadMimeType(header, filename string, head []byte) string {
	if mt, _, err := mime.ParseMediaType(header); err == nil && mt != "application/octet-stream" {
		return mt
	}
	if byExt := mime.TypeByExtension(filepath.Ext(filename)); byExt != "" {
		if mt, _, err := mime.ParseMediaType(byExt); err == nil {
			return mt
		}
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if mt == "" {
		mt = "application/octet-stream"
	}
	return mt
}

func readExpiresIn(part *multipart.Part) (int64, error) {
	b, err := io.ReadAll(io.LimitReader(part, 32))
	if err != nil {
		return 0, multipartError(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < minFileExpiry || n > maxFileExpiry {
		return 0, invalidf("expires_in_seconds: must be an integer from %d (one hour) to %d (ninety days)", minFileExpiry, maxFileExpiry)
	}
	return n, nil
}

// multipartError classifies an error reading the multipart body.
func multipartError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return hangar.Errorf(hangar.KindTooLarge, "request body exceeds %d bytes", mbe.Limit)
	}
	return invalidf("invalid multipart body: %v", err)
}

// fileCapReader fails with errFileTooLarge once more than left bytes would be read.
type fileCapReader struct {
	r    io.Reader
	left int64
}

func (c *fileCapReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errFileTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errFileTooLarge
	}
	return n, err
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 1000, true)
	if err != nil {
		return err
	}
	now := s.now()
	filter := hangar.FileFilter{ScopeID: q.Get("scope_id"), IDs: queryValues(q, "ids"), LiveAt: &now}
	if len(filter.IDs) > fileMaxIDs {
		return invalidf("ids: at most %d ids are allowed (got %d)", fileMaxIDs, len(filter.IDs))
	}
	before, after := q.Get("before_id"), q.Get("after_id")
	legacy := before != "" || after != ""
	switch {
	case before != "" && after != "":
		return invalidf("before_id and after_id cannot be used together")
	case legacy && page.Cursor != nil:
		return invalidf("page cannot be combined with before_id or after_id")
	}

	var env fileListEnvelope
	if legacy {
		// Legacy paging: newest first; after_id walks to older files, before_id to newer.
		var files []*hangar.File
		if after != "" {
			files, env.HasMore, err = s.filesAfter(r.Context(), filter, page.Desc, after, "after_id", page.Limit)
		} else {
			files, env.HasMore, err = s.filesAfter(r.Context(), filter, !page.Desc, before, "before_id", page.Limit)
			slices.Reverse(files)
		}
		if err != nil {
			return err
		}
		env.Data = files
	} else {
		filter.Page = page
		files, pr, err := s.store.ListFiles(r.Context(), filter)
		if err != nil {
			return err
		}
		env.Data, env.HasMore, env.NextPage = files, pr.Next != "", strOrNil(pr.Next)
	}
	for i, f := range env.Data {
		env.Data[i] = fileResponse(f)
	}
	if env.Data == nil {
		env.Data = []*hangar.File{}
	}
	if n := len(env.Data); n > 0 {
		env.FirstID, env.LastID = &env.Data[0].ID, &env.Data[n-1].ID
	}
	encode(w, http.StatusOK, env)
	return nil
}

// filesAfter returns up to limit files that follow anchorID in the given order, and
// whether more follow. The Store pages by position, not by ID, so it scans for the anchor.
func (s *Server) filesAfter(ctx context.Context, filter hangar.FileFilter, desc bool, anchorID, param string, limit int) ([]*hangar.File, bool, error) {
	filter.Page = hangar.Page{Limit: fileScanPage, Desc: desc}
	found := false
	var out []*hangar.File
	for {
		files, pr, err := s.store.ListFiles(ctx, filter)
		if err != nil {
			return nil, false, err
		}
		for _, f := range files {
			if !found {
				found = f.ID == anchorID
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, f)
		}
		if pr.Next == "" {
			break
		}
		c, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return nil, false, fmt.Errorf("list files: %w", err)
		}
		filter.Page.Cursor = &c
	}
	if !found {
		return nil, false, invalidf("%s: no file %s in this listing", param, anchorID)
	}
	return out, false, nil
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	f, err := s.liveFile(r.Context(), pathID(r, "file_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, fileResponse(f))
	return nil
}

func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := s.liveFile(ctx, pathID(r, "file_id"))
	if err != nil {
		return err
	}
	if !f.Downloadable {
		return invalidf("file %s is not downloadable", f.ID)
	}
	if s.cfg.Blobs == nil {
		return hangar.Errorf(hangar.KindInternal, "file storage is not configured")
	}
	rc, err := s.cfg.Blobs.Open(ctx, f.ID)
	if err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return &hangar.Error{Kind: hangar.KindInternal, Message: "file content missing", Err: err}
		}
		return fmt.Errorf("open file %s: %w", f.ID, err)
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", f.MimeType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Filename}))
	h.Set("X-Content-Type-Options", "nosniff")
	if rs, ok := rc.(io.ReadSeeker); ok {
		// Range requests and conditional GETs for free (blob.Dir hands out *os.File).
		http.ServeContent(w, r, "", f.CreatedAt, rs)
		return nil
	}
	h.Set("Content-Length", strconv.FormatInt(f.SizeBytes, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.WarnContext(ctx, "download interrupted", "request_id", h.Get("request-id"), "file_id", f.ID, "err", err)
	}
	return nil
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := pathID(r, "file_id")
	if _, err := s.liveFile(ctx, id); err != nil { // an expired file is gone already
		return err
	}
	if err := s.store.DeleteFile(ctx, id); err != nil {
		return err
	}
	s.deleteBlob(ctx, id)
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "file_deleted"})
	return nil
}

// deleteBlob removes a blob, even when the request was cancelled, logging failures: an
// orphaned blob wastes space but breaks nothing.
func (s *Server) deleteBlob(ctx context.Context, id string) {
	if s.cfg.Blobs == nil {
		return
	}
	if err := s.cfg.Blobs.Delete(context.WithoutCancel(ctx), id); err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
		s.log.WarnContext(ctx, "delete file content", "file_id", id, "err", err)
	}
}

// fileResponse returns a copy of f fit for the wire.
func fileResponse(f *hangar.File) *hangar.File {
	out := *f
	out.Type = "file"
	return &out
}
