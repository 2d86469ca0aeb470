package httpapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// stepClock is a clock the test moves by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestFileExpiry(t *testing.T) {
	t.Parallel()
	clk := &stepClock{t: testEpoch}
	blobs := newFileBlobs(false)
	srv, st := newTestServer(t, func(c *Config) { c.Clock, c.Blobs = clk.Now, blobs })
	content := filePart{field: "file", filename: "notes.txt", contentType: "text/plain", content: []byte("abc")}
	expiring := fileUploadOK(t, srv, filePart{field: "expires_in_seconds", content: []byte("3600")}, content)
	kept := fileUploadOK(t, srv, content)
	if expiring.ExpiresAt == nil || !expiring.ExpiresAt.Equal(testEpoch.Add(time.Hour)) || kept.ExpiresAt != nil {
		t.Fatalf("expires_at = %v and %v", expiring.ExpiresAt, kept.ExpiresAt)
	}
	body := string(apiOK(t, srv, "GET", "/v1/files/"+kept.ID, "", nil))
	if !strings.Contains(body, `"expires_at":null`) {
		t.Errorf("file without expiry: %s", body)
	}

	listed := func() []string {
		var page struct {
			Data []hangar.File `json:"data"`
		}
		apiOK(t, srv, "GET", "/v1/files", "", &page)
		var ids []string
		for _, f := range page.Data {
			ids = append(ids, f.ID)
		}
		return ids
	}
	// One second before expiry the file is still there; at expiry it is gone everywhere.
	clk.advance(time.Hour - time.Second)
	apiOK(t, srv, "GET", "/v1/files/"+expiring.ID+"/content", "", nil)
	if n, err := srv.SweepExpiredFiles(t.Context()); err != nil || n != 0 {
		t.Errorf("early sweep deleted %d (%v)", n, err)
	}
	clk.advance(time.Second)
	for _, path := range []string{"/v1/files/" + expiring.ID, "/v1/files/" + expiring.ID + "/content"} {
		apiError(t, apiDo(t, srv, "GET", path, ""), 404, "not_found_error")
	}
	if got := listed(); len(got) != 1 || got[0] != kept.ID {
		t.Errorf("listed %v, want only %s", got, kept.ID)
	}
	if blobs.count() != 2 {
		t.Errorf("%d blobs before the sweep, want 2", blobs.count())
	}
	n, err := srv.SweepExpiredFiles(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep deleted %d (%v), want 1", n, err)
	}
	if _, err := st.GetFile(t.Context(), expiring.ID); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("expired file metadata after the sweep: %v", err)
	}
	if blobs.count() != 1 {
		t.Errorf("%d blobs after the sweep, want 1", blobs.count())
	}
	apiError(t, apiDo(t, srv, "DELETE", "/v1/files/"+expiring.ID, ""), 404, "not_found_error")
	apiOK(t, srv, "GET", "/v1/files/"+kept.ID+"/content", "", nil)

	for _, v := range []string{"3599", "7776001", "0"} {
		rec := fileUpload(t, srv, filePart{field: "expires_in_seconds", content: []byte(v)}, content)
		if msg := apiError(t, rec, 400, "invalid_request_error"); !strings.Contains(msg, "from 3600 (one hour) to 7776000") {
			t.Errorf("expires_in_seconds %s: %q", v, msg)
		}
	}
	fileUploadOK(t, srv, filePart{field: "expires_in_seconds", content: []byte(fmt.Sprint(maxFileExpiry))}, content)
}

// An expired file cannot be mounted in a session or used as a rubric.
func TestExpiredFileRefused(t *testing.T) {
	t.Parallel()
	clk := &stepClock{t: testEpoch}
	e := newSessionEnv(t, func(c *Config) { c.Clock = clk.Now })
	a, env := e.agent("a", 1), e.environment("env")
	f := fileUploadOK(t, e.srv, filePart{field: "expires_in_seconds", content: []byte("3600")}, filePart{field: "file", filename: "r.md", contentType: "text/plain", content: []byte("rubric")})
	clk.advance(time.Hour)
	msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"file","file_id":%q}]}`, a.ID, env.ID, f.ID)), 400, "invalid_request_error")
	if !strings.Contains(msg, f.ID+" not found") {
		t.Errorf("resource: %q", msg)
	}
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, env.ID))
	msg = apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/events", fmt.Sprintf(`{"events":[{"type":"user.define_outcome","description":"d","rubric":{"type":"file","file_id":%q}}]}`, f.ID)), 400, "invalid_request_error")
	if !strings.Contains(msg, "not found") {
		t.Errorf("rubric: %q", msg)
	}
}
