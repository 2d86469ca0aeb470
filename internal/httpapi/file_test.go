package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/blob"
)

// filePart is one part of a test upload.
type filePart struct {
	field, filename, contentType string
	content                      []byte
}

// fileUpload POSTs a multipart body built from parts to /v1/files.
func fileUpload(t *testing.T, h http.Handler, parts ...filePart) *httptest.ResponseRecorder {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		hdr := textproto.MIMEHeader{}
		disp := fmt.Sprintf(`form-data; name=%q`, p.field)
		if p.filename != "" {
			disp += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		hdr.Set("Content-Disposition", disp)
		if p.contentType != "" {
			hdr.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(hdr)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.content)
	}
	mw.Close()
	req := httptest.NewRequest("POST", "/v1/files", &buf)
	req.Header.Set("x-api-key", testAPIKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func fileUploadOK(t *testing.T, h http.Handler, parts ...filePart) hangar.File {
	t.Helper()
	rec := fileUpload(t, h, parts...)
	if rec.Code != http.StatusOK {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var f hangar.File
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// fileBlobs wraps the shared in-memory blob fake to count blobs and, with seekable, to hand
// out io.ReadSeekers as blob.Dir does.
type fileBlobs struct {
	tsBlobs
	seekable bool
}

func newFileBlobs(seekable bool) *fileBlobs {
	return &fileBlobs{tsBlobs: tsBlobs{m: map[string][]byte{}}, seekable: seekable}
}

func (b *fileBlobs) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if !b.seekable {
		return b.tsBlobs.Open(ctx, id)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[id]
	if !ok {
		return nil, hangar.NotFound("file", id)
	}
	return fileSeekCloser{bytes.NewReader(data)}, nil
}

func (b *fileBlobs) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

type fileSeekCloser struct{ *bytes.Reader }

func (fileSeekCloser) Close() error { return nil }

// allBytes is every byte value, twice, plus a tail: binary content with NULs and high bytes.
func allBytes() []byte {
	var b []byte
	for range 2 {
		for i := range 256 {
			b = append(b, byte(i))
		}
	}
	return append(b, "\r\n--boundary-lookalike--\r\n"...)
}

// fileBlobStore is a blob store under test with a way to count what it holds.
type fileBlobStore struct {
	hangar.BlobStore
	count    func() int
	seekable bool
}

// fileBlobStores returns the blob stores the file tests run against: the in-memory fake
// (streamed with io.Copy), a seekable fake, and the real blob.Dir.
func fileBlobStores(t *testing.T) map[string]func() fileBlobStore {
	return map[string]func() fileBlobStore{
		"memory": func() fileBlobStore {
			b := newFileBlobs(false)
			return fileBlobStore{b, b.count, false}
		},
		"memory-seekable": func() fileBlobStore {
			b := newFileBlobs(true)
			return fileBlobStore{b, b.count, true}
		},
		"blob.Dir": func() fileBlobStore {
			dir := t.TempDir()
			d, err := blob.NewDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			count := func() int {
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				return len(entries) // temporary files included
			}
			return fileBlobStore{d, count, true}
		},
	}
}

func TestFileUploadDownloadRoundTrip(t *testing.T) {
	t.Parallel()
	for name, mk := range fileBlobStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			blobs := mk()
			seekable := blobs.seekable
			srv, _ := newTestServer(t, func(c *Config) { c.Blobs = blobs.BlobStore })
			content := allBytes()

			rec := fileUpload(t, srv, filePart{field: "file", filename: "data.bin", contentType: "application/x-custom", content: content})
			if rec.Code != http.StatusOK {
				t.Fatalf("upload: %d %s", rec.Code, rec.Body)
			}
			checkGolden(t, "file_upload", rec.Body.Bytes())
			var f hangar.File
			_ = json.Unmarshal(rec.Body.Bytes(), &f)
			if f.SizeBytes != int64(len(content)) || f.MimeType != "application/x-custom" || !f.Downloadable || f.Filename != "data.bin" {
				t.Errorf("metadata = %+v", f)
			}

			checkGolden(t, "file_get", apiOK(t, srv, "GET", "/v1/files/"+f.ID, "", nil))

			dl := apiDo(t, srv, "GET", "/v1/files/"+f.ID+"/content", "")
			if dl.Code != http.StatusOK {
				t.Fatalf("download: %d %s", dl.Code, dl.Body)
			}
			if !bytes.Equal(dl.Body.Bytes(), content) {
				t.Errorf("downloaded %d bytes differing from the %d uploaded", dl.Body.Len(), len(content))
			}
			for k, want := range map[string]string{
				"Content-Type":           "application/x-custom",
				"Content-Length":         fmt.Sprint(len(content)),
				"Content-Disposition":    `attachment; filename=data.bin`,
				"X-Content-Type-Options": "nosniff",
			} {
				if got := dl.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}

			if seekable {
				// blob.Dir-style blobs get Range support from http.ServeContent.
				req := httptest.NewRequest("GET", "/v1/files/"+f.ID+"/content", nil)
				req.Header.Set("x-api-key", testAPIKey)
				req.Header.Set("Range", "bytes=0-9")
				rr := httptest.NewRecorder()
				srv.ServeHTTP(rr, req)
				if rr.Code != http.StatusPartialContent || !bytes.Equal(rr.Body.Bytes(), content[:10]) {
					t.Errorf("range request: %d, %q", rr.Code, rr.Body.Bytes())
				}
			}

			checkGolden(t, "file_delete", apiOK(t, srv, "DELETE", "/v1/files/"+f.ID, "", nil))
			if n := blobs.count(); n != 0 {
				t.Errorf("%d blobs left after delete", n)
			}
			for _, path := range []string{"/v1/files/" + f.ID, "/v1/files/" + f.ID + "/content"} {
				apiError(t, apiDo(t, srv, "GET", path, ""), http.StatusNotFound, "not_found_error")
			}
			apiError(t, apiDo(t, srv, "DELETE", "/v1/files/"+f.ID, ""), http.StatusNotFound, "not_found_error")
		})
	}
}

func TestFileUploadTooLarge(t *testing.T) {
	t.Parallel()
	for name, mk := range fileBlobStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			blobs := mk()
			srv, st := newTestServer(t, func(c *Config) {
				c.Blobs = blobs.BlobStore
				c.MaxFileBytes = 1024
			})
			// Exactly the limit is fine.
			fileUploadOK(t, srv, filePart{field: "file", filename: "ok.bin", content: bytes.Repeat([]byte{7}, 1024)})

			for _, size := range []int{1025, 64 << 10, 3 << 20} {
				rec := fileUpload(t, srv, filePart{field: "file", filename: "big.bin", content: bytes.Repeat([]byte{7}, size)})
				msg := apiError(t, rec, http.StatusRequestEntityTooLarge, "request_too_large")
				if !strings.Contains(msg, "1024") {
					t.Errorf("413 message %q does not state the limit", msg)
				}
			}
			if n := blobs.count(); n != 1 {
				t.Errorf("%d blobs stored, want only the file within the limit", n)
			}
			files, _, err := st.ListFiles(context.Background(), hangar.FileFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 {
				t.Errorf("%d files stored, want 1", len(files))
			}
		})
	}
}

func TestFileUploadValidation(t *testing.T) {
	t.Parallel()
	blobs := newFileBlobs(false)
	srv, _ := newTestServer(t, func(c *Config) { c.Blobs = blobs })
	file := filePart{field: "file", filename: "a.txt", content: []byte("a")}
	tests := []struct {
		name    string
		parts   []filePart
		mention string
	}{
		{"no parts", nil, "file: field required"},
		{"no file part", []filePart{{field: "purpose", content: []byte("x")}}, "file: field required"},
		{"no filename", []filePart{{field: "file", content: []byte("x")}}, "filename"},
		{"filename too long", []filePart{{field: "file", filename: strings.Repeat("n", 501), content: []byte("x")}}, "at most 500"},
		{"two files", []filePart{file, file}, "only one file"},
		{"bad expires_in_seconds", []filePart{file, {field: "expires_in_seconds", content: []byte("soon")}}, "expires_in_seconds"},
		{"negative expires_in_seconds", []filePart{{field: "expires_in_seconds", content: []byte("-5")}, file}, "expires_in_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := apiError(t, fileUpload(t, srv, tt.parts...), http.StatusBadRequest, "invalid_request_error")
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
		})
	}
	t.Run("truncated body", func(t *testing.T) {
		body := "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n" + strings.Repeat("z", 4096)
		req := httptest.NewRequest("POST", "/v1/files", strings.NewReader(body))
		req.Header.Set("x-api-key", testAPIKey)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=XyZ")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		apiError(t, rec, http.StatusBadRequest, "invalid_request_error")
	})
	t.Run("not multipart", func(t *testing.T) {
		apiError(t, apiDo(t, srv, "POST", "/v1/files", `{"file":"x"}`), http.StatusBadRequest, "invalid_request_error")
	})
	if n := blobs.count(); n != 0 {
		t.Errorf("%d blobs left behind by rejected uploads", n)
	}
	// A valid expiry and unknown parts are accepted.
	fileUploadOK(t, srv, filePart{field: "expires_in_seconds", content: []byte("3600")}, file, filePart{field: "purpose", content: []byte("x")})
}

// A failure to record the metadata removes the stored blob.
func TestFileUploadStoreFailureRemovesBlob(t *testing.T) {
	t.Parallel()
	blobs := newFileBlobs(false)
	srv, _ := newTestServer(t, func(c *Config) {
		c.Blobs = blobs
		c.Store = fileFailingStore{c.Store}
	})
	rec := fileUpload(t, srv, filePart{field: "file", filename: "a.txt", content: []byte("a")})
	apiError(t, rec, http.StatusInternalServerError, "api_error")
	if n := blobs.count(); n != 0 {
		t.Errorf("%d blobs left after a failed upload", n)
	}
}

// fileFailingStore fails CreateFile.
type fileFailingStore struct{ hangar.Store }

func (fileFailingStore) CreateFile(context.Context, *hangar.File) error {
	return errors.New("disk on fire")
}

func TestFileUploadMimeType(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n0000")
	tests := []struct {
		header, filename string
		head             []byte
		want             string
	}{
		{"text/csv", "data.csv", []byte("a,b"), "text/csv"},
		{"text/plain; charset=utf-8", "a.txt", []byte("hi"), "text/plain"},
		{"", "report.pdf", []byte("whatever"), "application/pdf"},
		{"application/octet-stream", "doc.json", []byte("{}"), "application/json"},
		{"", "noext", png, "image/png"},
		{"", "noext", []byte("hello world"), "text/plain"},
		{"", "noext", []byte{0, 1, 2, 3}, "application/octet-stream"},
		{"not a / type;;", "noext", png, "image/png"},
	}
	for _, tt := range tests {
		if got := uploadMimeType(tt.header, tt.filename, tt.head); got != tt.want {
			t.Errorf("uploadMimeType(%q, %q) = %q, want %q", tt.header, tt.filename, got, tt.want)
		}
	}
}

func TestFileList(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, func(c *Config) { c.Blobs = newFileBlobs(false) })

	empty := apiOK(t, srv, "GET", "/v1/files", "", nil)
	checkGolden(t, "file_list_empty", empty)

	var ids []string // oldest first
	for i := range 5 {
		f := fileUploadOK(t, srv, filePart{field: "file", filename: fmt.Sprintf("f%d.txt", i), contentType: "text/plain", content: []byte(fmt.Sprint(i))})
		ids = append(ids, f.ID)
	}
	newest := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, j := range idx {
			out[i] = ids[j]
		}
		return out
	}

	type envelope struct {
		Data     []hangar.File `json:"data"`
		HasMore  bool          `json:"has_more"`
		FirstID  *string       `json:"first_id"`
		LastID   *string       `json:"last_id"`
		NextPage *string       `json:"next_page"`
	}
	list := func(t *testing.T, query string) (envelope, []string) {
		t.Helper()
		var env envelope
		body := apiOK(t, srv, "GET", "/v1/files"+query, "", &env)
		for _, k := range []string{"data", "has_more", "first_id", "last_id", "next_page"} {
			if !strings.Contains(string(body), `"`+k+`"`) {
				t.Errorf("envelope lacks %q: %s", k, body)
			}
		}
		got := make([]string, len(env.Data))
		for i, f := range env.Data {
			got[i] = f.ID
		}
		if len(got) > 0 && (env.FirstID == nil || *env.FirstID != got[0] || env.LastID == nil || *env.LastID != got[len(got)-1]) {
			t.Errorf("first_id/last_id = %v/%v for %v", env.FirstID, env.LastID, got)
		}
		return env, got
	}

	t.Run("golden", func(t *testing.T) {
		checkGolden(t, "file_list", apiOK(t, srv, "GET", "/v1/files?limit=2", "", nil))
	})

	t.Run("cursor pages", func(t *testing.T) {
		var all []string
		q := "?limit=2"
		for range 5 {
			env, got := list(t, q)
			all = append(all, got...)
			if env.HasMore != (env.NextPage != nil) {
				t.Errorf("has_more %v with next_page %v", env.HasMore, env.NextPage)
			}
			if env.NextPage == nil {
				break
			}
			q = "?limit=2&page=" + *env.NextPage
		}
		if want := newest(4, 3, 2, 1, 0); !cmp.Equal(all, want) {
			t.Errorf("paged %v, want newest first %v", all, want)
		}
	})

	t.Run("after_id", func(t *testing.T) {
		env, got := list(t, "?limit=2&after_id="+ids[4])
		if want := newest(3, 2); !cmp.Equal(got, want) || !env.HasMore || env.NextPage != nil {
			t.Errorf("after_id newest: %v has_more=%v, want %v has_more=true", got, env.HasMore, want)
		}
		env, got = list(t, "?limit=2&after_id="+ids[1])
		if want := newest(0); !cmp.Equal(got, want) || env.HasMore {
			t.Errorf("after_id near the end: %v has_more=%v, want %v has_more=false", got, env.HasMore, want)
		}
	})

	t.Run("before_id", func(t *testing.T) {
		env, got := list(t, "?limit=2&before_id="+ids[0])
		if want := newest(2, 1); !cmp.Equal(got, want) || !env.HasMore {
			t.Errorf("before_id oldest: %v has_more=%v, want %v has_more=true", got, env.HasMore, want)
		}
		env, got = list(t, "?limit=2&before_id="+ids[3])
		if want := newest(4); !cmp.Equal(got, want) || env.HasMore {
			t.Errorf("before_id near the start: %v has_more=%v, want %v has_more=false", got, env.HasMore, want)
		}
	})

	t.Run("legacy paging walks everything", func(t *testing.T) {
		// What the Page[T] auto-pager of older SDKs does: after_id = last_id while has_more.
		var all []string
		q := "?limit=2"
		for range 5 {
			env, got := list(t, q)
			all = append(all, got...)
			if !env.HasMore {
				break
			}
			q = "?limit=2&after_id=" + *env.LastID
		}
		if want := newest(4, 3, 2, 1, 0); !cmp.Equal(all, want) {
			t.Errorf("paged %v, want %v", all, want)
		}
	})

	t.Run("ids filter", func(t *testing.T) {
		_, got := list(t, "?ids[]="+ids[1]+"&ids[]="+ids[3])
		if want := newest(3, 1); !cmp.Equal(got, want) {
			t.Errorf("ids[] = %v, want %v", got, want)
		}
		_, got = list(t, "?ids="+ids[2])
		if want := newest(2); !cmp.Equal(got, want) {
			t.Errorf("ids = %v, want %v", got, want)
		}
	})

	t.Run("scope_id filter", func(t *testing.T) {
		env, got := list(t, "?scope_id=sesn_011CNone")
		if len(got) != 0 || env.HasMore || env.FirstID != nil {
			t.Errorf("scope with no files: %+v", env)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, q := range []string{
			"limit=0", "limit=1001", "limit=two", "page=nope",
			"before_id=" + ids[0] + "&after_id=" + ids[1],
			"after_id=file_011CUnknown",
			"after_id=" + ids[0] + "&page=" + hangar.Cursor{Pos: 1, Desc: true}.Encode(),
		} {
			apiError(t, apiDo(t, srv, "GET", "/v1/files?"+q, ""), http.StatusBadRequest, "invalid_request_error")
		}
		apiOK(t, srv, "GET", "/v1/files?limit=1000", "", nil)
	})
}

// Uploads may run concurrently; each gets its own blob and row.
func TestFileConcurrentUploads(t *testing.T) {
	t.Parallel()
	blobs := newFileBlobs(false)
	srv, _ := newTestServer(t, func(c *Config) { c.Blobs = blobs })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			rec := fileUpload(t, srv, filePart{field: "file", filename: fmt.Sprintf("%d.txt", i), content: []byte(strings.Repeat("x", i))})
			if rec.Code != http.StatusOK {
				t.Errorf("upload %d: %d %s", i, rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	if n := blobs.count(); n != 8 {
		t.Errorf("%d blobs, want 8", n)
	}
}
