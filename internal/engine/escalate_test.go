package engine_test

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/internal/engine"
)

// signalRecorder is a provider.Process that records the signals it is sent.
type signalRecorder struct {
	mu      sync.Mutex
	got     []string
	killErr error
}

func (p *signalRecorder) Stdin() io.WriteCloser { return nil }
func (p *signalRecorder) Stdout() io.Reader     { return nil }
func (p *signalRecorder) Stderr() io.Reader     { return nil }
func (p *signalRecorder) Wait() (int, error)    { return 0, nil }
func (p *signalRecorder) Signal(kill bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if kill {
		p.got = append(p.got, "kill")
		return p.killErr
	}
	p.got = append(p.got, "int")
	return nil
}

func TestEscalate(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name    string
		done    bool  // the CLI already exited (a grace period that never ends, then)
		killErr error // what SIGKILL returns
		want    []string
	}{
		{"exited", true, nil, nil},
		{"outlives everything", false, nil, []string{"int", "kill", "cancel"}},
		{"kill undeliverable", false, errors.New("gone"), []string{"int", "kill", "cancel", "cancel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			if tt.done {
				close(done)
			}
			p := &signalRecorder{killErr: tt.killErr}
			cancel := func() {
				p.mu.Lock()
				p.got = append(p.got, "cancel")
				p.mu.Unlock()
			}
			grace := time.Microsecond
			if tt.done {
				grace = time.Hour // else select may pick the fired timer over done
			}
			engine.Escalate(done, p, grace, cancel, log)
			if !slices.Equal(p.got, tt.want) {
				t.Errorf("got %v, want %v", p.got, tt.want)
			}
		})
	}
}
