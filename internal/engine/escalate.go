package engine

import (
	"log/slog"
	"time"

	"github.com/hangar-dev/hangar/internal/provider"
)

// Escalate stops a CLI that outlives an interrupt: after each grace period in which done
// stays open it sends the process SIGINT, then SIGKILL, then calls cancel (at once when
// the kill cannot be delivered). It returns as soon as done is closed. Engines whose CLI
// speaks a control protocol run it after asking the CLI to stop.
func Escalate(done <-chan struct{}, proc provider.Process, grace time.Duration, cancel func(), log *slog.Logger) {
	t := time.NewTimer(grace)
	defer t.Stop()
	for _, kill := range []bool{false, true} {
		select {
		case <-done:
			return
		case <-t.C:
		}
		log.Debug("interrupted CLI still running, signalling", "kill", kill)
		if err := proc.Signal(kill); err != nil && kill {
			cancel()
		}
		t.Reset(grace)
	}
	select {
	case <-done:
	case <-t.C:
		cancel()
	}
}

// Tail keeps the last Max bytes written to it: a CLI's stderr, for error messages.
type Tail struct {
	Max int
	b   []byte
}

func (t *Tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.Max {
		t.b = t.b[len(t.b)-t.Max:]
	}
	return len(p), nil
}

func (t *Tail) String() string { return string(t.b) }
