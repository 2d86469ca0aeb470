package runner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/runner"
)

// publicEgress is a fakeEgress whose attachments carry the server's public egress URL.
type publicEgress struct {
	*fakeEgress
	url string
}

func (p publicEgress) Attach(ctx context.Context, sessionID string, policy hangar.Networking, opts runner.EgressOptions) (*runner.EgressAttachment, error) {
	a, err := p.fakeEgress.Attach(ctx, sessionID, policy, opts)
	if a != nil {
		a.PublicURL = p.url
	}
	return a, err
}

// capsProvider is the memory provider with other capabilities.
type capsProvider struct {
	*memory.Provider
	caps provider.Capabilities
}

func (p capsProvider) Capabilities() provider.Capabilities { return p.caps }

// TestRemoteProviderEgress checks what the engine is told on each kind of provider, and
// that the runner refuses, before creating the sandbox and with a session.error that
// says why, a remote provider without a public URL and an interactive-stdin engine on a
// buffered-stdin provider.
func TestRemoteProviderEgress(t *testing.T) {
	t.Parallel()
	const public = "https://hangar.example.com/egress"
	tests := []struct {
		name        string
		caps        provider.Capabilities
		publicURL   string
		interactive bool
		want        engine.Egress // with Token "tok-<session>"
		wantErr     string        // in the session.error message
	}{
		{name: "isolated local", caps: provider.Capabilities{Isolated: true}, publicURL: public,
			want: engine.Egress{ModelBaseURL: "http://" + provider.EgressAddr, HTTPProxy: "http://" + provider.EgressAddr}},
		{name: "remote with public URL", caps: provider.Capabilities{Isolated: true, Remote: true}, publicURL: public + "/",
			want: engine.Egress{ModelBaseURL: public}},
		{name: "remote without public URL", caps: provider.Capabilities{Isolated: true, Remote: true},
			wantErr: "HANGAR_PUBLIC_URL"},
		{name: "buffered stdin, one-shot engine", caps: provider.Capabilities{Isolated: true, Remote: true, BufferedStdin: true}, publicURL: public,
			want: engine.Egress{ModelBaseURL: public}},
		{name: "buffered stdin, interactive engine", caps: provider.Capabilities{Isolated: true, Remote: true, BufferedStdin: true}, publicURL: public,
			interactive: true, wantErr: "talks to its CLI over stdin while it runs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &enginetest.Scripted{Caps: engine.Capabilities{InteractiveStdin: tt.interactive}}
			e := newEnv(t, withFake(fake))
			eg := &fakeEgress{}
			mem := &memory.Provider{}
			e.startWithEgress(publicEgress{eg, tt.publicURL}, capsProvider{mem, tt.caps})
			id := e.session("fake", nil, "")
			evs := e.turn(id, "hi")
			var msg string
			for _, ev := range evs {
				if ev.Type == hangar.EventSessionError {
					msg = field[hangar.SessionError](t, ev, "error").Message
				}
			}
			if tt.wantErr != "" {
				if !strings.Contains(msg, tt.wantErr) {
					t.Errorf("session.error = %q, want it to mention %q", msg, tt.wantErr)
				}
				if mem.Sandboxes() != 0 {
					t.Errorf("a sandbox was created for a refused pairing")
				}
				if len(eg.calls()) != eg.closes(id) {
					t.Errorf("attached %d times, detached %d", len(eg.calls()), eg.closes(id))
				}
				return
			}
			if msg != "" {
				t.Fatalf("session.error %q", msg)
			}
			specs := fake.Specs()
			if len(specs) != 1 {
				t.Fatalf("%d runs, want 1", len(specs))
			}
			want := tt.want
			want.Token = "tok-" + id
			if diff := cmp.Diff(want, specs[0].Egress); diff != "" {
				t.Errorf("engine egress mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
