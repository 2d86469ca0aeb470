package httpapi

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// File rubrics (outcome.go resolveRubrics): resolved to their text when the event arrives.
func TestDefineOutcomeFileRubric(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	env := e.environment("env")
	a := e.agent("a", 1)
	blob := func(name string, content []byte, size int64) string {
		t.Helper()
		f := e.file(name)
		if _, _, err := e.srv.cfg.Blobs.Put(e.ctx(), f.ID, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if err := e.store.DeleteFile(e.ctx(), f.ID); err != nil {
			t.Fatal(err)
		}
		f.SizeBytes = size
		if err := e.store.CreateFile(e.ctx(), f); err != nil {
			t.Fatal(err)
		}
		return f.ID
	}
	rubric := blob("rubric.md", []byte("- tests pass\n- README updated\n"), 30)
	outcome := func(fileID string) string {
		return fmt.Sprintf(`{"type":"user.define_outcome","description":"ship it","rubric":{"type":"file","file_id":%q}}`, fileID)
	}

	t.Run("events echo the rubric as text", func(t *testing.T) {
		s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, env.ID))
		body := apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/events", `{"events":[`+outcome(rubric)+`]}`, nil)
		checkGolden(t, "define_outcome_file_rubric", body)
	})
	t.Run("initial_events resolve too", func(t *testing.T) {
		s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q,"initial_events":[%s]}`, a.ID, env.ID, outcome(rubric)))
		evs := e.sessionEvents(s.ID, hangar.EventUserDefineOutcome)
		if len(evs) != 1 || !strings.Contains(string(evs[0]), `"rubric":{"type":"text","content":"- tests pass\n- README updated\n"}`) {
			t.Errorf("stored define_outcome: %s", evs)
		}
	})

	big := blob("big.md", []byte("x"), hangar.MaxOutcomeRubricChars+1)
	binary := blob("bin.dat", []byte{0xff, 0xfe, 0x00}, 3)
	missingBlob := e.file("gone.md").ID
	cases := []struct {
		name, file, want string
	}{
		{"unknown file", "file_missing", "events[0].rubric.file_id: file file_missing not found"},
		{"too large", big, fmt.Sprintf("a rubric file may have at most %d", hangar.MaxOutcomeRubricChars)},
		{"not UTF-8", binary, "is not UTF-8 text"},
		{"blob missing", missingBlob, "not found"},
	}
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, env.ID))
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/events", `{"events":[`+outcome(tt.file)+`]}`), 400, "invalid_request_error")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
	msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"initial_events":[%s]}`, a.ID, env.ID, outcome("file_missing"))), 400, "invalid_request_error")
	if !strings.Contains(msg, "initial_events[0].rubric.file_id: file file_missing not found") {
		t.Errorf("message %q", msg)
	}
}
