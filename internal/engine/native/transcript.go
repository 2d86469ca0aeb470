package native

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Conversation continuity: a session's Messages API conversation (the exact blocks the
// model wrote, thinking signatures and tool IDs included) is the run's resume token
// itself (engine.EventResume): gzipped JSON (transcript), base64, behind tokenPrefix. The runner stores
// the token with the session's runtime state in the database at the end of the turn, so
// the conversation survives a restart, follows the session to any instance sharing the
// store, goes away with the session, and a turn retried after a crash starts again from
// the token its first run started from. Nothing is kept on the instance.
//
// Before this, the token was the message count of a transcript file
// <state dir>/<session id>.json; such tokens are still read (legacyLoad) and the files
// removed when their session is deleted (Engine.Forget).

// tokenPrefix starts a transcript token (format version 1: base64url(gzip(JSON))).
const tokenPrefix = "z1."

// transcript is what a token holds.
type transcript struct {
	Messages []message `json:"messages"`
	// ContextTokens is the size of the context at the last model reply (compact.go).
	ContextTokens int64 `json:"context_tokens,omitempty"`
}

// encodeTranscript returns the resume token holding tr.
func encodeTranscript(tr transcript) (string, error) {
	var b bytes.Buffer
	b.WriteString(tokenPrefix)
	enc := base64.NewEncoder(base64.RawURLEncoding, &b)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(enc)
	if tr.Messages == nil {
		tr.Messages = []message{}
	}
	if err := json.NewEncoder(zw).Encode(tr); err != nil {
		return "", fmt.Errorf("native: encode transcript: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("native: encode transcript: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("native: encode transcript: %w", err)
	}
	return b.String(), nil
}

// gzipWriters reuses compressors: each holds about a megabyte of state.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// decodeTranscript reads a token of encodeTranscript.
func decodeTranscript(tok string) (transcript, error) {
	var tr transcript
	zr, err := gzip.NewReader(base64.NewDecoder(base64.RawURLEncoding, strings.NewReader(strings.TrimPrefix(tok, tokenPrefix))))
	if err != nil {
		return tr, fmt.Errorf("native: decode transcript: %w", err)
	}
	if err := json.NewDecoder(zr).Decode(&tr); err != nil {
		return tr, fmt.Errorf("native: decode transcript: %w", err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return tr, fmt.Errorf("native: decode transcript: %w", err)
	}
	return tr, nil
}

// transcripts reads resume tokens, including the legacy ones naming a file in dir.
type transcripts struct {
	dir string
}

// load returns the conversation a resume token holds. lost reports a token whose
// conversation cannot be had (a legacy file on another machine or gone, or a damaged
// token): the conversation starts over.
func (t *transcripts) load(sessionID, resume string) (tr transcript, lost bool, err error) {
	switch {
	case resume == "":
		return tr, false, nil
	case strings.HasPrefix(resume, tokenPrefix):
		tr, err := decodeTranscript(resume)
		if err != nil {
			return transcript{}, true, nil
		}
		return tr, false, nil
	}
	msgs, lost, err := t.legacyLoad(sessionID, resume)
	return transcript{Messages: msgs}, lost, err
}

// legacyLoad reads a message-count token: the first n messages of the session's
// transcript file.
func (t *transcripts) legacyLoad(sessionID, resume string) ([]message, bool, error) {
	n, err := strconv.Atoi(resume)
	if err != nil || n < 0 || t.dir == "" {
		return nil, true, nil
	}
	b, err := os.ReadFile(t.path(sessionID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("native: read transcript: %w", err)
	}
	var msgs []message
	if err := json.Unmarshal(b, &msgs); err != nil || len(msgs) < n {
		return nil, true, nil
	}
	return msgs[:n], false, nil
}

func (t *transcripts) path(sessionID string) string {
	return filepath.Join(t.dir, sessionID+".json")
}

// forget removes the session's legacy transcript file, if any.
func (t *transcripts) forget(ctx context.Context, sessionID string) error {
	if t.dir == "" || sessionID == "" || strings.ContainsAny(sessionID, `/\`) {
		return nil
	}
	if err := os.Remove(t.path(sessionID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("native: remove transcript: %w", err)
	}
	return nil
}
