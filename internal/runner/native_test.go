package runner_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/runner"
)

// nativeEnv is a self_hosted env whose runners each build their own native engine (no
// shared state between them but the store), with legacy transcripts under stateDir.
func nativeEnv(t *testing.T, stateDir string) (*env, *fakemodel.Server) {
	t.Helper()
	fake := &fakemodel.Server{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := newEnv(t, noStart)
	e.tune = func(cfg *runner.Config) {
		cfg.Engines.Register("native", func(json.RawMessage, engine.Deps) (engine.Engine, error) {
			cfg, _ := json.Marshal(native.Config{BaseURL: srv.URL, APIKey: "sk-test", StateDir: stateDir})
			return native.New(cfg, engine.Deps{})
		})
	}
	e.envID = hangar.NewID(hangar.PrefixEnvironment)
	now := hangar.Now()
	if err := e.store.CreateEnvironment(e.ctx, &hangar.Environment{Type: "environment", ID: e.envID, Name: "worker-" + e.envID, Config: hangar.EnvironmentConfig{Type: "self_hosted"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return e, fake
}

// The native conversation lives in the store (the resume token of the session's runtime
// state): a second instance with nothing of the first but the store continues it.
func TestNativeConversationMovesAcrossInstances(t *testing.T) {
	t.Parallel()
	e, fake := nativeEnv(t, "")
	a := e.start()
	id := e.session("native", nil, "[]")
	s := e.subscribe(id)
	e.send(id, userMessage("first question"))
	s.until(hangar.EventStatusIdle)
	a.Close()

	b := e.startAnother()
	if _, err := b.Send(e.ctx, id, []hangar.Event{userMessage("second question")}, ""); err != nil {
		t.Fatal(err)
	}
	s.until(hangar.EventStatusIdle)
	reqs := fake.MessageRequests()
	last := reqs[len(reqs)-1]
	if len(last.Messages) != 3 || last.Messages[0].Content[0].Text != "first question" || last.Messages[2].Content[0].Text != "second question" {
		t.Fatalf("second instance's request has %d messages: %+v", len(last.Messages), last.Messages)
	}
}

// Deleting a session makes its engine forget it (engine.Forgetter): native removes the
// session's legacy transcript file.
func TestDeleteForgetsEngineState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e, _ := nativeEnv(t, dir)
	e.start()
	id := e.session("native", nil, "[]")
	other := filepath.Join(dir, "sesn_other.json")
	for _, p := range []string{filepath.Join(dir, id+".json"), other} {
		if err := os.WriteFile(p, []byte(`[]`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.runner.Delete(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, id+".json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("transcript of the deleted session: %v, want it removed", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another session's transcript: %v", err)
	}
}
