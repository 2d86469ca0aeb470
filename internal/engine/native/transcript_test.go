package native_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
)

// A resume token of the earlier format (a message count of a transcript file in the
// state dir) still continues its conversation, and Forget removes the file.
func TestLegacyTranscriptToken(t *testing.T) {
	f := newFixture(t)
	e := f.engine(t)
	sp := spec(agent(`[]`), "third")
	legacy := `[{"role":"user","content":[{"type":"text","text":"one"}]},{"role":"assistant","content":[{"type":"text","text":"two"}]},{"role":"user","content":[{"type":"text","text":"dropped"}]}]`
	file := filepath.Join(f.dir, sp.Session.ID+".json")
	if err := os.WriteFile(file, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		resume string
		want   []string
	}{
		{"2", []string{"one", "two", "third"}},
		{"9", []string{"third"}},              // more than the file has: starts over
		{"z1.not-base64!", []string{"third"}}, // damaged: starts over
	}
	for _, tt := range tests {
		sp.Resume = tt.resume
		if _, _, err := turn(t, e, nil, sp, nil); err != nil {
			t.Fatal(err)
		}
		reqs := f.fake.MessageRequests()
		var got []string
		for _, m := range reqs[len(reqs)-1].Messages {
			got = append(got, m.Content[0].Text)
		}
		if len(got) != len(tt.want) || got[0] != tt.want[0] || got[len(got)-1] != "third" {
			t.Errorf("resume %q: conversation %q, want %q", tt.resume, got, tt.want)
		}
	}
	if err := e.(engine.Forgetter).Forget(context.Background(), sp.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("transcript after Forget: %v", err)
	}
	if err := e.(engine.Forgetter).Forget(context.Background(), sp.Session.ID); err != nil {
		t.Errorf("Forget of a session with nothing left: %v", err)
	}
}
