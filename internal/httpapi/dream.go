package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar"
)

// Dreams (docs/dreams.md): POST /v1/dreams stores a pending dream and wakes the dream
// runner (internal/dream), which reads the memory store and the sessions, asks the model
// for a reorganized memory set and writes it. These handlers only validate, store and
// change status; the runner does the work on whichever instance claims the dream.

// DreamRunner is woken when a dream is created (internal/dream.Runner); nil leaves new
// dreams to the runner's next poll.
type DreamRunner interface{ Trigger() }

const (
	maxDreamSessions     = 100
	maxDreamInstructions = 4096
	maxDreamModelID      = 256
)

type dreamRequest struct {
	Inputs         []json.RawMessage `json:"inputs"`
	Model          json.RawMessage   `json:"model"`
	Instructions   *string           `json:"instructions"`
	OutputBehavior json.RawMessage   `json:"output_behavior"`
}

type dreamInputWire struct {
	Type          string   `json:"type"`
	MemoryStoreID string   `json:"memory_store_id,omitempty"`
	SessionIDs    []string `json:"session_ids,omitempty"`
}

type dreamModelWire struct {
	ID    string `json:"id"`
	Speed string `json:"speed"`
}

type dreamOutputBehaviorWire struct {
	Type          string `json:"type"`
	MemoryStoreID string `json:"memory_store_id,omitempty"`
}

type dreamOutputWire struct {
	Type          string `json:"type"`
	MemoryStoreID string `json:"memory_store_id"`
}

type dreamWire struct {
	Type           string                  `json:"type"`
	ID             string                  `json:"id"`
	Status         string                  `json:"status"`
	CreatedAt      time.Time               `json:"created_at"`
	EndedAt        *time.Time              `json:"ended_at"`
	ArchivedAt     *time.Time              `json:"archived_at"`
	Error          *hangar.DreamError      `json:"error"`
	Inputs         []dreamInputWire        `json:"inputs"`
	Instructions   *string                 `json:"instructions"`
	Model          dreamModelWire          `json:"model"`
	OutputBehavior dreamOutputBehaviorWire `json:"output_behavior"`
	Outputs        []dreamOutputWire       `json:"outputs"`
	// SessionID is null: a Hangar dream is one model request, not a session (docs/dreams.md).
	SessionID *string           `json:"session_id"`
	Usage     hangar.DreamUsage `json:"usage"`
}

func dreamOut(d *hangar.Dream) dreamWire {
	w := dreamWire{Type: "dream", ID: d.ID, Status: d.Status, CreatedAt: d.CreatedAt, EndedAt: d.EndedAt, ArchivedAt: d.ArchivedAt,
		Error: d.Error, Instructions: strOrNil(d.Instructions), Model: dreamModelWire{ID: d.Model, Speed: "standard"},
		Inputs:         []dreamInputWire{{Type: "memory_store", MemoryStoreID: d.MemoryStore}, {Type: "sessions", SessionIDs: d.SessionIDs}},
		OutputBehavior: dreamOutputBehaviorWire{Type: d.Output}, Outputs: []dreamOutputWire{}, Usage: d.Usage}
	if d.Output == hangar.DreamUpdateExisting {
		w.OutputBehavior.MemoryStoreID = d.MemoryStore
	}
	if d.OutputStore != "" {
		w.Outputs = append(w.Outputs, dreamOutputWire{Type: "memory_store", MemoryStoreID: d.OutputStore})
	}
	return w
}

func (s *Server) createDream(w http.ResponseWriter, r *http.Request) error {
	var req dreamRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	d := &hangar.Dream{ID: s.newID(hangar.PrefixDream), Status: hangar.DreamPending, CreatedAt: s.now(), Output: hangar.DreamCreateNew}
	if req.Inputs == nil {
		return invalidf("inputs: field required")
	}
	for i, raw := range req.Inputs {
		if err := parseDreamInput(i, raw, d); err != nil {
			return err
		}
	}
	if d.MemoryStore == "" || d.SessionIDs == nil {
		return invalidf("inputs: give exactly one memory_store entry and exactly one sessions entry")
	}
	model, err := parseDreamModel(req.Model)
	if err != nil {
		return err
	}
	d.Model = model
	if req.Instructions != nil {
		if err := checkLen("instructions", *req.Instructions, 1, maxDreamInstructions); err != nil {
			return err
		}
		d.Instructions = *req.Instructions
	}
	if present(req.OutputBehavior) && !isNull(req.OutputBehavior) {
		typ, err := objectType("output_behavior", req.OutputBehavior)
		if err != nil {
			return err
		}
		var ob struct {
			Type          string  `json:"type"`
			MemoryStoreID *string `json:"memory_store_id"`
		}
		if err := decodeAt("output_behavior", req.OutputBehavior, &ob); err != nil {
			return err
		}
		switch typ {
		case hangar.DreamCreateNew:
			if ob.MemoryStoreID != nil {
				return invalidf("output_behavior.memory_store_id: extra inputs are not permitted")
			}
		case hangar.DreamUpdateExisting:
			if err := requireString("output_behavior.memory_store_id", ob.MemoryStoreID, 1, maxIDParamChars); err != nil {
				return err
			}
			if *ob.MemoryStoreID != d.MemoryStore {
				return invalidf("output_behavior.memory_store_id: must be the input memory store %s", d.MemoryStore)
			}
			d.Output = hangar.DreamUpdateExisting
		default:
			return invalidf("output_behavior.type: must be one of \"create_new\", \"update_existing\" (got %q)", typ)
		}
	}

	ms, err := s.store.GetMemoryStore(ctx, d.MemoryStore)
	if err != nil {
		return err
	}
	if ms.ArchivedAt != nil {
		return invalidf("inputs: memory store %s is archived", ms.ID)
	}
	for _, id := range d.SessionIDs {
		if _, err := s.store.GetSession(ctx, id); err != nil {
			return err
		}
	}
	if d.Output == hangar.DreamUpdateExisting {
		// One update_existing dream per store at a time: two would race on its memories.
		busy, _, err := s.store.ListDreams(ctx, hangar.DreamFilter{IncludeArchived: true,
			Statuses: []string{hangar.DreamPending, hangar.DreamRunning}, Page: hangar.Page{Limit: 1000}})
		if err != nil {
			return err
		}
		for _, o := range busy {
			if o.Output == hangar.DreamUpdateExisting && o.MemoryStore == d.MemoryStore {
				return conflictf("dream %s is still updating memory store %s", o.ID, d.MemoryStore)
			}
		}
	}
	if err := s.store.CreateDream(ctx, d); err != nil {
		return err
	}
	if s.cfg.Dreams != nil {
		s.cfg.Dreams.Trigger()
	}
	encode(w, http.StatusOK, dreamOut(d))
	return nil
}

// parseDreamInput reads one entry of inputs into d.
func parseDreamInput(i int, raw json.RawMessage, d *hangar.Dream) error {
	path := "inputs[" + strconv.Itoa(i) + "]"
	typ, err := objectType(path, raw)
	if err != nil {
		return err
	}
	var in struct {
		Type          string   `json:"type"`
		MemoryStoreID *string  `json:"memory_store_id"`
		SessionIDs    []string `json:"session_ids"`
	}
	if err := decodeAt(path, raw, &in); err != nil {
		return err
	}
	switch typ {
	case "memory_store":
		if d.MemoryStore != "" {
			return invalidf("inputs: give exactly one memory_store entry")
		}
		if err := requireString(path+".memory_store_id", in.MemoryStoreID, 1, maxIDParamChars); err != nil {
			return err
		}
		if in.SessionIDs != nil {
			return invalidf("%s.session_ids: extra inputs are not permitted", path)
		}
		d.MemoryStore = *in.MemoryStoreID
	case "sessions":
		if d.SessionIDs != nil {
			return invalidf("inputs: give exactly one sessions entry")
		}
		if in.MemoryStoreID != nil {
			return invalidf("%s.memory_store_id: extra inputs are not permitted", path)
		}
		if len(in.SessionIDs) < 1 || len(in.SessionIDs) > maxDreamSessions {
			return invalidf("%s.session_ids: give 1 to %d session IDs", path, maxDreamSessions)
		}
		ids := slices.Clone(in.SessionIDs)
		slices.Sort(ids)
		for j, id := range ids {
			if err := checkLen(path+".session_ids", id, 1, maxIDParamChars); err != nil {
				return err
			}
			if j > 0 && ids[j-1] == id {
				return invalidf("%s.session_ids: %s is listed twice", path, id)
			}
		}
		d.SessionIDs = ids
	default:
		return invalidf("%s.type: must be one of \"memory_store\", \"sessions\" (got %q)", path, typ)
	}
	return nil
}

// parseDreamModel accepts a model ID or {id, speed}; dreams run at standard speed only.
func parseDreamModel(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", invalidf("model: field required")
	}
	var id string
	if json.Unmarshal(raw, &id) != nil {
		var m struct {
			ID    *string `json:"id"`
			Speed *string `json:"speed"`
		}
		if err := decodeAt("model", raw, &m); err != nil {
			return "", err
		}
		if err := requireString("model.id", m.ID, 1, maxDreamModelID); err != nil {
			return "", err
		}
		if m.Speed != nil && *m.Speed != "standard" {
			return "", invalidf("model.speed: dreams accept only \"standard\" (got %q)", *m.Speed)
		}
		return *m.ID, nil
	}
	if err := checkLen("model", id, 1, maxDreamModelID); err != nil {
		return "", err
	}
	return id, nil
}

func (s *Server) getDream(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.GetDream(r.Context(), pathID(r, "dream_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, dreamOut(d))
	return nil
}

func (s *Server) listDreams(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	f := hangar.DreamFilter{Page: page}
	if f.IncludeArchived, err = parseBool(q, "include_archived"); err != nil {
		return err
	}
	if f.Created, err = parseTimeRange(q, "created_at"); err != nil {
		return err
	}
	for _, st := range queryValues(q, "statuses") {
		if err := checkOneOf("statuses", st, hangar.DreamPending, hangar.DreamRunning, hangar.DreamCompleted, hangar.DreamFailed, hangar.DreamCanceled); err != nil {
			return err
		}
		f.Statuses = append(f.Statuses, st)
	}
	ds, pr, err := s.store.ListDreams(r.Context(), f)
	if err != nil {
		return err
	}
	data := []dreamWire{}
	for _, d := range ds {
		data = append(data, dreamOut(d))
	}
	encode(w, http.StatusOK, listEnvelope[dreamWire]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

// archiveDream hides a finished dream from lists; a pending or running one must be
// canceled first.
func (s *Server) archiveDream(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.UpdateDream(r.Context(), pathID(r, "dream_id"), func(d *hangar.Dream) error {
		if !d.Final() {
			return invalidf("dream %s is %s: cancel it, or wait for it to end, before archiving it", d.ID, d.Status)
		}
		if d.ArchivedAt == nil {
			now := s.now()
			d.ArchivedAt = &now
		}
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, dreamOut(d))
	return nil
}

// cancelDream stops a pending or running dream: the runner sees the final status at its
// next claim renewal or before it writes, and stops. Canceling twice is a no-op.
func (s *Server) cancelDream(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.UpdateDream(r.Context(), pathID(r, "dream_id"), func(d *hangar.Dream) error {
		switch d.Status {
		case hangar.DreamCanceled:
			return nil
		case hangar.DreamCompleted, hangar.DreamFailed:
			return invalidf("dream %s is already %s", d.ID, d.Status)
		}
		now := s.now()
		d.Status, d.EndedAt = hangar.DreamCanceled, &now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, dreamOut(d))
	return nil
}
