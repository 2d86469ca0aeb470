package dream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/hangar-dev/hangar"
)

// ErrNoModel fails dreams on a server without a model credential.
var ErrNoModel = errors.New("the server has no model credential (set ANTHROPIC_API_KEY): dreams need one")

// actor records the dream's memory writes: there is no per-dream session here, so the
// versions are the API's (docs/dreams.md).
var actor = hangar.Actor{Type: "api_actor", APIKeyID: "apikey_hangar"}

// run does the work of one dream: running, output store, model, write, completed.
func (r *Runner) run(ctx context.Context, id string) error {
	d, err := r.cfg.Store.UpdateDream(ctx, id, func(d *hangar.Dream) error {
		if d.Final() {
			return errLost
		}
		d.Status = hangar.DreamRunning
		return nil
	})
	if err != nil {
		return err
	}
	in, err := r.cfg.Store.GetMemoryStore(ctx, d.MemoryStore)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return failf("invalid_request_error", "memory store %s no longer exists", d.MemoryStore)
	} else if err != nil {
		return err
	}
	inputs, err := r.memories(ctx, in.ID)
	if err != nil {
		return err
	}
	// The output store first, so that outputs shows it while the model works.
	out := d.OutputStore
	if out == "" {
		out = in.ID
		if d.Output != hangar.DreamUpdateExisting {
			if out, err = r.copyStore(ctx, d, in, inputs); err != nil {
				return err
			}
		}
		if d, err = r.cfg.Store.UpdateDream(ctx, id, func(d *hangar.Dream) error {
			if d.Final() {
				return errLost
			}
			d.OutputStore = out
			return nil
		}); err != nil {
			return err
		}
	}

	req := Request{Model: d.Model, Instructions: d.Instructions, StoreName: in.Name}
	for _, m := range inputs {
		req.Memories = append(req.Memories, File{Path: m.Path, Content: content(m)})
	}
	for _, sid := range d.SessionIDs {
		tr, err := r.transcript(ctx, sid)
		if err != nil {
			return err
		}
		req.Transcripts = append(req.Transcripts, tr)
	}
	if r.cfg.Model == nil {
		return failf("api_error", "%s", ErrNoModel)
	}
	reply, err := r.cfg.Model.Dream(ctx, req)
	// Usage counts even when the reply is unusable: the tokens were spent.
	if _, uerr := r.cfg.Store.UpdateDream(ctx, id, func(d *hangar.Dream) error {
		d.Usage.InputTokens += reply.Usage.InputTokens
		d.Usage.OutputTokens += reply.Usage.OutputTokens
		d.Usage.CacheCreationInputTokens += reply.Usage.CacheCreationInputTokens
		d.Usage.CacheReadInputTokens += reply.Usage.CacheReadInputTokens
		return nil
	}); uerr != nil {
		return uerr
	}
	if err != nil {
		return err
	}
	if err := validate(reply.Memories); err != nil {
		return err
	}
	// A cancel that landed during the model call stops the dream before it writes.
	if cur, err := r.cfg.Store.GetDream(ctx, id); err != nil {
		return err
	} else if cur.Final() {
		return errLost
	}
	if err := r.apply(ctx, out, reply.Memories); err != nil {
		return err
	}
	_, err = r.cfg.Store.UpdateDream(ctx, id, func(d *hangar.Dream) error {
		if d.Final() {
			return nil // canceled while writing: the status stays canceled
		}
		now := r.cfg.Clock()
		d.Status, d.EndedAt = hangar.DreamCompleted, &now
		return nil
	})
	return err
}

// memories lists every memory of a store.
func (r *Runner) memories(ctx context.Context, storeID string) ([]*hangar.Memory, error) {
	var out []*hangar.Memory
	p := hangar.Page{Limit: 100}
	for {
		ms, res, err := r.cfg.Store.ListMemories(ctx, storeID, hangar.MemoryFilter{Page: p})
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		if res.Next == "" {
			return out, nil
		}
		c, err := hangar.DecodeCursor(res.Next)
		if err != nil {
			return nil, err
		}
		p.Cursor = &c
	}
}

// copyStore makes the create_new output: a new store that starts as a copy of the input.
func (r *Runner) copyStore(ctx context.Context, d *hangar.Dream, in *hangar.MemoryStore, ms []*hangar.Memory) (string, error) {
	now := r.cfg.Clock()
	out := &hangar.MemoryStore{Type: "memory_store", ID: r.cfg.NewID(hangar.PrefixMemoryStore), Name: in.Name,
		Description: in.Description, Metadata: map[string]string{"hangar.dream_id": d.ID, "hangar.dreamed_from": in.ID},
		CreatedAt: now, UpdatedAt: now}
	if err := r.cfg.Store.CreateMemoryStore(ctx, out); err != nil {
		return "", err
	}
	for _, m := range ms {
		if err := r.write(ctx, out.ID, hangar.MemoryCreated, "", m.Path, content(m)); err != nil {
			return "", err
		}
	}
	return out.ID, nil
}

// apply makes store hold exactly files: deletes first (so that a file may become a
// directory), then modifications, then creations.
func (r *Runner) apply(ctx context.Context, storeID string, files []File) error {
	cur, err := r.memories(ctx, storeID)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, f := range files {
		want[f.Path] = f.Content
	}
	have := map[string]*hangar.Memory{}
	for _, m := range cur {
		have[m.Path] = m
		if _, ok := want[m.Path]; !ok {
			if err := r.write(ctx, storeID, hangar.MemoryDeleted, m.ID, "", ""); err != nil {
				return err
			}
		}
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		m, ok := have[p]
		switch {
		case !ok:
			err = r.write(ctx, storeID, hangar.MemoryCreated, "", p, want[p])
		case content(m) != want[p]:
			err = r.write(ctx, storeID, hangar.MemoryModified, m.ID, p, want[p])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// write records one memory change as the store's API would.
func (r *Runner) write(ctx context.Context, storeID, op, memoryID, path, text string) error {
	now := r.cfg.Clock()
	w := hangar.MemoryWrite{StoreID: storeID, Operation: op, MemoryID: memoryID,
		Version: hangar.MemoryVersion{ID: r.cfg.NewID(hangar.PrefixMemoryVersion), CreatedBy: actor, CreatedAt: now}}
	if op != hangar.MemoryDeleted {
		sum := sha256.Sum256([]byte(text))
		w.Memory = hangar.Memory{Type: "memory", Path: path, Content: &text, ContentSHA256: hex.EncodeToString(sum[:]),
			ContentSizeBytes: int64(len(text)), UpdatedAt: now}
		if op == hangar.MemoryCreated {
			w.Memory.ID, w.Memory.CreatedAt = r.cfg.NewID(hangar.PrefixMemory), now
		}
	}
	if _, _, err := r.cfg.Store.WriteMemory(ctx, w); err != nil {
		return fmt.Errorf("write %s %s: %w", op, path, err)
	}
	return nil
}

func content(m *hangar.Memory) string {
	if m.Content == nil {
		return ""
	}
	return *m.Content
}
