package httpapi

import (
	"encoding/json"

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
		// CMA resolves file rubrics to their text; Hangar does not read files into
		// rubrics yet, and grading without the rubric would be dishonest.
		return hangar.OutcomeDefinition{}, invalidf("%s.rubric.type: \"file\" rubrics are not supported yet; send the rubric as {\"type\":\"text\",\"content\":...}", path)
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
