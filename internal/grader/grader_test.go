package grader

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/fakemodel"
)

func TestGrade(t *testing.T) {
	tests := []struct {
		name    string
		reply   fakemodel.Response
		want    Verdict
		wantErr string
	}{
		{"needs revision", fakemodel.Text(`{"result":"needs_revision","explanation":"no tests"}`), Verdict{Result: "needs_revision", Explanation: "no tests"}, ""},
		{"satisfied in a fence", fakemodel.Text("```json\n{\"result\":\"satisfied\",\"explanation\":\"all met\"}\n```"), Verdict{Result: "satisfied", Explanation: "all met"}, ""},
		{"failed", fakemodel.Text(`{"result":"failed","explanation":"rubric is about poems"}`), Verdict{Result: "failed", Explanation: "rubric is about poems"}, ""},
		{"prose only", fakemodel.Text("looks good to me"), Verdict{}, "no JSON verdict"},
		{"unknown result", fakemodel.Text(`{"result":"great"}`), Verdict{}, "must be satisfied"},
		{"api error", fakemodel.Overloaded(), Verdict{}, "model API answered 529"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fm := &fakemodel.Server{}
			srv := httptest.NewServer(fm)
			defer srv.Close()
			fm.Push(tt.reply)
			c := New(Config{BaseURL: srv.URL, APIKey: "sk-test", Model: "claude-test"})
			got, err := c.Grade(context.Background(), Request{Description: "write fizzbuzz", Rubric: "has tests", Transcript: "agent: done", Iteration: 1})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != tt.want.Result || got.Explanation != tt.want.Explanation {
				t.Errorf("verdict = %+v, want %+v", got, tt.want)
			}
			if got.Usage.OutputTokens == 0 {
				t.Errorf("usage not reported: %+v", got.Usage)
			}
			reqs := fm.MessageRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d model requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Model != "claude-test" || r.Stream || r.Header.Get("x-api-key") != "sk-test" {
				t.Errorf("request model=%q stream=%v key=%q", r.Model, r.Stream, r.Header.Get("x-api-key"))
			}
			for _, want := range []string{"<task>\nwrite fizzbuzz", "<rubric>\nhas tests", `iteration="1"`, "agent: done"} {
				if !strings.Contains(r.LastUserText(), want) {
					t.Errorf("prompt lacks %q:\n%s", want, r.LastUserText())
				}
			}
		})
	}
}
