package main

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func TestE2EFiles(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	tests := []struct {
		name     string
		filename string
		mime     string
		content  []byte
	}{
		{"text", "notes.txt", "text/plain", []byte("hello, hangar\n")},
		{"binary", "blob.bin", "application/octet-stream", bytes.Repeat([]byte{0, 1, 2, 0xff}, 64<<10)},
		{"csv", "data.csv", "text/csv", []byte("a,b\n1,2\n")},
	}
	var uploaded []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{
				File: anthropic.File(bytes.NewReader(tt.content), tt.filename, tt.mime),
			})
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			uploaded = append(uploaded, f.ID)
			if f.Type != "file" || f.Filename != tt.filename || f.SizeBytes != int64(len(tt.content)) || !strings.HasPrefix(f.ID, "file_") {
				t.Errorf("upload = %s", f.RawJSON())
			}
			if !strings.HasPrefix(f.MimeType, tt.mime) {
				t.Errorf("mime_type = %q, want %q", f.MimeType, tt.mime)
			}
			if f.CreatedAt.IsZero() {
				t.Errorf("created_at missing: %s", f.RawJSON())
			}

			meta, err := c.Beta.Files.GetMetadata(ctx, f.ID, anthropic.BetaFileGetMetadataParams{})
			if err != nil {
				t.Fatalf("get metadata: %v", err)
			}
			if meta.ID != f.ID || meta.Filename != tt.filename || meta.SizeBytes != f.SizeBytes {
				t.Errorf("metadata = %s", meta.RawJSON())
			}

			resp, err := c.Beta.Files.Download(ctx, f.ID, anthropic.BetaFileDownloadParams{})
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read download: %v", err)
			}
			if !bytes.Equal(got, tt.content) {
				t.Errorf("downloaded %d bytes, differ from the %d uploaded", len(got), len(tt.content))
			}
		})
	}

	t.Run("list", func(t *testing.T) {
		var ids []string
		iter := c.Beta.Files.ListAutoPaging(ctx, anthropic.BetaFileListParams{Limit: anthropic.Int(2)})
		for iter.Next() {
			ids = append(ids, iter.Current().ID)
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(ids) != len(uploaded) {
			t.Fatalf("listed %v, want %v", ids, uploaded)
		}
		for _, id := range uploaded {
			if !slices.Contains(ids, id) {
				t.Errorf("%s missing from list %v", id, ids)
			}
		}
		// Both pagination generations: the union envelope.
		page, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{})
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"has_more", "first_id", "last_id", "next_page"} {
			if !strings.Contains(page.RawJSON(), `"`+field+`"`) {
				t.Errorf("files list lacks %s: %s", field, page.RawJSON())
			}
		}
		byID, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{IDs: uploaded[:1]})
		if err != nil {
			t.Fatalf("list ids[]: %v", err)
		}
		if len(byID.Data) != 1 || byID.Data[0].ID != uploaded[0] {
			t.Errorf("ids[] filter returned %s", byID.RawJSON())
		}
	})

	t.Run("delete", func(t *testing.T) {
		id := uploaded[0]
		del, err := c.Beta.Files.Delete(ctx, id, anthropic.BetaFileDeleteParams{})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		checkShape(t, "file delete", del)
		if del.ID != id || del.Type != "file_deleted" {
			t.Errorf("delete = %s", del.RawJSON())
		}
		_, err = c.Beta.Files.GetMetadata(ctx, id, anthropic.BetaFileGetMetadataParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
		_, err = c.Beta.Files.Download(ctx, id, anthropic.BetaFileDownloadParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})

	t.Run("upload without a file is 400", func(t *testing.T) {
		_, err := c.Beta.Files.Upload(ctx, anthropic.BetaFileUploadParams{})
		wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	})
}
