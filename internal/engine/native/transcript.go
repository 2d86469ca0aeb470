package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Conversation continuity: the loop keeps each session's Messages API conversation (the
// exact blocks the model wrote, thinking signatures and tool IDs included) in a transcript
// file <state dir>/<session id>.json, rewritten at the end of every run. The run's resume
// token (engine.EventResume, stored by the runner with the session's runtime state, so it
// survives a restart) is the number of messages the conversation had then: the next run
// loads the file and keeps that many, so a turn retried after a crash starts again from
// the conversation its first run started from. Without a state dir transcripts live in
// memory (tests).

// transcripts loads and saves conversations.
type transcripts struct {
	dir string

	mu  sync.Mutex
	mem map[string][]message
}

func (t *transcripts) path(sessionID string) string {
	return filepath.Join(t.dir, sessionID+".json")
}

// load returns the first n messages of the session's conversation (all of them when
// resume is not a count). lost reports that the token named more messages than there are
// (a transcript on another machine, or deleted): the conversation starts over.
func (t *transcripts) load(sessionID, resume string) (msgs []message, lost bool, err error) {
	n, convErr := strconv.Atoi(resume)
	if resume == "" || convErr != nil || n < 0 {
		n = 0
	}
	if t.dir == "" {
		t.mu.Lock()
		msgs = append([]message(nil), t.mem[sessionID]...)
		t.mu.Unlock()
	} else {
		b, err := os.ReadFile(t.path(sessionID))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, false, fmt.Errorf("native: read transcript: %w", err)
		default:
			if err := json.Unmarshal(b, &msgs); err != nil {
				return nil, false, fmt.Errorf("native: decode transcript: %w", err)
			}
		}
	}
	if len(msgs) < n {
		return nil, true, nil
	}
	return msgs[:n], false, nil
}

// save replaces the session's conversation (write to a temporary file, then rename, so a
// crash leaves the old one whole).
func (t *transcripts) save(sessionID string, msgs []message) error {
	if t.dir == "" {
		t.mu.Lock()
		if t.mem == nil {
			t.mem = map[string][]message{}
		}
		t.mem[sessionID] = append([]message(nil), msgs...)
		t.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return fmt.Errorf("native: encode transcript: %w", err)
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return fmt.Errorf("native: transcript dir: %w", err)
	}
	f, err := os.CreateTemp(t.dir, "."+sessionID+".*")
	if err != nil {
		return fmt.Errorf("native: write transcript: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("native: write transcript: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("native: write transcript: %w", err)
	}
	if err := os.Rename(f.Name(), t.path(sessionID)); err != nil {
		return fmt.Errorf("native: write transcript: %w", err)
	}
	return nil
}
