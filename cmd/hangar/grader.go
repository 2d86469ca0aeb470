package main

import (
	"context"

	"github.com/hangar-dev/hangar/internal/grader"
	"github.com/hangar-dev/hangar/internal/runner"
)

// newGrader builds the outcome grader (docs/outcomes.md): the Messages API at the model
// upstream the egress proxy uses, with the server's credential. Without a credential there
// is no grader, and outcome evaluations end failed saying so.
func newGrader(cfg Config) runner.Grader {
	if cfg.UpstreamKey == "" && cfg.UpstreamAuthToken == "" {
		return nil
	}
	return graderAdapter{grader.New(grader.Config{
		BaseURL: cfg.UpstreamURL, APIKey: cfg.UpstreamKey.Reveal(), AuthToken: cfg.UpstreamAuthToken.Reveal(), Model: cfg.GraderModel,
	})}
}

// graderAdapter adapts internal/grader to runner.Grader (adapters do not import each
// other).
type graderAdapter struct{ c *grader.Client }

func (g graderAdapter) Grade(ctx context.Context, req runner.GradeRequest) (runner.Verdict, error) {
	v, err := g.c.Grade(ctx, grader.Request{Description: req.Description, Rubric: req.Rubric, Transcript: req.Transcript, Iteration: req.Iteration})
	if err != nil {
		return runner.Verdict{}, err
	}
	return runner.Verdict{Result: v.Result, Explanation: v.Explanation, Usage: runner.SpanUsage{
		InputTokens: int64(v.Usage.InputTokens), OutputTokens: int64(v.Usage.OutputTokens),
		CacheCreationInputTokens: int64(v.Usage.CacheCreationInputTokens), CacheReadInputTokens: int64(v.Usage.CacheReadInputTokens),
	}}, nil
}
