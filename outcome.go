package hangar

import "time"

// Outcomes (§7.3 of the contract, docs/outcomes.md): the client defines what the agent
// should produce and a rubric; after each turn a grader scores the work and, while
// iterations remain, sends the agent its feedback for another turn.
const (
	EventUserDefineOutcome            = "user.define_outcome"
	EventOutcomeEvaluationStart       = "span.outcome_evaluation_start"
	EventOutcomeEvaluationOngoing     = "span.outcome_evaluation_ongoing"
	EventOutcomeEvaluationEnd         = "span.outcome_evaluation_end"
	PrefixOutcome                     = "outc_"
	DefaultOutcomeMaxIterations       = 3
	MaxOutcomeMaxIterations           = 20
	MaxOutcomeRubricChars             = 262144
	OutcomeResultPending              = "pending"
	OutcomeResultRunning              = "running"
	OutcomeResultEvaluating           = "evaluating"
	OutcomeResultSatisfied            = "satisfied"
	OutcomeResultNeedsRevision        = "needs_revision"
	OutcomeResultMaxIterationsReached = "max_iterations_reached"
	OutcomeResultFailed               = "failed"
	OutcomeResultInterrupted          = "interrupted"
)

// OutcomeEvaluation is one entry of Session.OutcomeEvaluations.
type OutcomeEvaluation struct {
	Type        string     `json:"type"` // "outcome_evaluation"
	OutcomeID   string     `json:"outcome_id"`
	Description string     `json:"description"`
	Result      string     `json:"result"`
	Iteration   int        `json:"iteration"`
	CompletedAt *time.Time `json:"completed_at"`
	Explanation *string    `json:"explanation"`
}

// Terminal reports whether the outcome is finished (no further evaluation follows).
func (o OutcomeEvaluation) Terminal() bool {
	switch o.Result {
	case OutcomeResultSatisfied, OutcomeResultMaxIterationsReached, OutcomeResultFailed, OutcomeResultInterrupted:
		return true
	}
	return false
}

// OutcomeDefinition is the stored body of a user.define_outcome event.
type OutcomeDefinition struct {
	OutcomeID     string        `json:"outcome_id"`
	Description   string        `json:"description"`
	Rubric        OutcomeRubric `json:"rubric"`
	MaxIterations int           `json:"max_iterations"`
}

// OutcomeRubric is how an outcome is graded: {type:"text", content}.
type OutcomeRubric struct {
	Type    string `json:"type"`
	Content string `json:"content,omitempty"`
	FileID  string `json:"file_id,omitempty"`
}
