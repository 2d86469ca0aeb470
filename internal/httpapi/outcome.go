package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/hangar-dev/hangar"
)

// user.define_outcome (§7.3, docs/outcomes.md): validated here; the runner starts the
// agent's work and the grader loop. The echo carries a server-generated outcome_id
// (storedEvents) and the resolved max_iterations.

type defineOutcomeParams struct {
	Type          string          `json:"type"`
	Description   *string         `json:"description"`
	Rubric        json.RawMessage `json:"rubric"`
	MaxIterations *float64        `json:"max_iterations"`
}

type rubricParams struct {
	Type    *string `json:"type"`
	Content *string `json:"content"`
	FileID  *string `json:"file_id"`
}

// maxOutcomeDescription bounds description (the contract gives no limit; this keeps one
// event within the request size the rubric already allows).
const maxOutcomeDescription = hangar.MaxOutcomeRubricChars

func decodeDefineOutcome(path string, raw json.RawMessage) (hangar.OutcomeDefinition, error) {
	var p defineOutcomeParams
	if err := decodeAt(path, raw, &p); err != nil {
		return hangar.OutcomeDefinition{}, err
	}
	if err := requireString(path+".description", p.Description, 1, maxOutcomeDescription); err != nil {
		return hangar.OutcomeDefinition{}, err
	}
	if len(p.Rubric) == 0 || string(p.Rubric) == "null" {
		return hangar.OutcomeDefinition{}, invalidf("%s.rubric: field required", path)
	}
	var rp rubricParams
	if err := decodeAt(path+".rubric", p.Rubric, &rp); err != nil {
		return hangar.OutcomeDefinition{}, err
	}
	if rp.Type == nil {
		return hangar.OutcomeDefinition{}, invalidf("%s.rubric.type: field required", path)
	}
	var rubric hangar.OutcomeRubric
	switch *rp.Type {
	case "text":
		if rp.FileID != nil {
			return hangar.OutcomeDefinition{}, invalidf("%s.rubric.file_id: not allowed for a text rubric", path)
		}
		if err := requireString(path+".rubric.content", rp.Content, 1, hangar.MaxOutcomeRubricChars); err != nil {
			return hangar.OutcomeDefinition{}, err
		}
		rubric = hangar.OutcomeRubric{Type: "text", Content: *rp.Content}
	case "file":
		// Resolved to its text by resolveRubrics, which needs the store.
		if rp.Content != nil {
			return hangar.OutcomeDefinition{}, invalidf("%s.rubric.content: not allowed for a file rubric", path)
		}
		if err := requireString(path+".rubric.file_id", rp.FileID, 1, maxIDParamChars); err != nil {
			return hangar.OutcomeDefinition{}, err
		}
		rubric = hangar.OutcomeRubric{Type: "file", FileID: *rp.FileID}
	default:
		return hangar.OutcomeDefinition{}, invalidf("%s.rubric.type: must be one of \"text\", \"file\" (got %q)", path, *rp.Type)
	}
	maxIter := hangar.DefaultOutcomeMaxIterations
	if p.MaxIterations != nil {
		m := *p.MaxIterations
		if m != float64(int(m)) || m < 1 || m > hangar.MaxOutcomeMaxIterations {
			return hangar.OutcomeDefinition{}, invalidf("%s.max_iterations: must be an integer between 1 and %d", path, hangar.MaxOutcomeMaxIterations)
		}
		maxIter = int(m)
	}
	return hangar.OutcomeDefinition{Description: *p.Description, Rubric: rubric, MaxIterations: maxIter}, nil
}

// withOutcomeID gives a validated define_outcome body its outcome_id.
func withOutcomeID(body json.RawMessage, id string) json.RawMessage {
	var def hangar.OutcomeDefinition
	if err := json.Unmarshal(body, &def); err != nil {
		return body
	}
	def.OutcomeID = id
	return mustJSON(def)
}

// resolveRubrics replaces the file rubrics of validated user.define_outcome events with
// {type:"text", content} holding the file's text, as CMA does ("file rubrics are currently
// resolved to their text content"): the echo, the stored event and the grader all see the
// text, and a file deleted later does not change the outcome. The file must exist, be at
// most MaxOutcomeRubricChars bytes and hold UTF-8 text; otherwise the request is a 400.
// path names the events list ("events", "initial_events").
func (s *Server) resolveRubrics(ctx context.Context, path string, evs []clientEvent) error {
	for i := range evs {
		if evs[i].Type != hangar.EventUserDefineOutcome {
			continue
		}
		var def hangar.OutcomeDefinition
		if err := json.Unmarshal(evs[i].Body, &def); err != nil || def.Rubric.Type != "file" {
			continue
		}
		field := path + "[" + strconv.Itoa(i) + "].rubric.file_id"
		text, err := s.rubricText(ctx, field, def.Rubric.FileID)
		if err != nil {
			return err
		}
		def.Rubric = hangar.OutcomeRubric{Type: "text", Content: text}
		evs[i].Body = mustJSON(def)
	}
	return nil
}

// rubricText reads file id as a rubric.
func (s *Server) rubricText(ctx context.Context, field, id string) (string, error) {
	f, err := s.liveFile(ctx, id) // file_expiry.go
	if hangar.IsKind(err, hangar.KindNotFound) {
		return "", invalidf("%s: file %s not found", field, id)
	}
	if err != nil {
		return "", err
	}
	if f.SizeBytes > hangar.MaxOutcomeRubricChars {
		return "", invalidf("%s: file %s is %d bytes; a rubric file may have at most %d", field, id, f.SizeBytes, hangar.MaxOutcomeRubricChars)
	}
	if f.SizeBytes == 0 {
		return "", invalidf("%s: file %s is empty", field, id)
	}
	if s.cfg.Blobs == nil {
		return "", hangar.Errorf(hangar.KindUnavailable, "no file storage is configured")
	}
	rc, err := s.cfg.Blobs.Open(ctx, f.ID)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return "", invalidf("%s: file %s not found", field, id)
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, hangar.MaxOutcomeRubricChars+1))
	if err != nil {
		return "", err
	}
	if len(b) > hangar.MaxOutcomeRubricChars {
		return "", invalidf("%s: file %s is larger than %d bytes", field, id, hangar.MaxOutcomeRubricChars)
	}
	if !utf8.Valid(b) {
		return "", invalidf("%s: file %s is not UTF-8 text", field, id)
	}
	return string(b), nil
}
