package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

func TestDecodeDefineOutcome(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", hangar.MaxOutcomeRubricChars+1)
	tests := []struct {
		name string
		body string
		want string // canonical body, or a substring of the error
		ok   bool
	}{
		{"default max_iterations", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"}}`,
			`{"outcome_id":"","description":"d","rubric":{"type":"text","content":"r"},"max_iterations":3}`, true},
		{"max_iterations 20", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"},"max_iterations":20}`,
			`{"outcome_id":"","description":"d","rubric":{"type":"text","content":"r"},"max_iterations":20}`, true},
		{"no description", `{"type":"user.define_outcome","rubric":{"type":"text","content":"r"}}`, "e[0].description: field required", false},
		{"empty description", `{"type":"user.define_outcome","description":"","rubric":{"type":"text","content":"r"}}`, "e[0].description: must not be empty", false},
		{"no rubric", `{"type":"user.define_outcome","description":"d"}`, "e[0].rubric: field required", false},
		{"rubric without type", `{"type":"user.define_outcome","description":"d","rubric":{"content":"r"}}`, "e[0].rubric.type: field required", false},
		{"unknown rubric type", `{"type":"user.define_outcome","description":"d","rubric":{"type":"url"}}`, `e[0].rubric.type: must be one of "text", "file"`, false},
		{"rubric too long", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"` + long + `"}}`, "e[0].rubric.content: must be at most 262144", false},
		{"file rubric", `{"type":"user.define_outcome","description":"d","rubric":{"type":"file","file_id":"file_1"}}`,
			`{"outcome_id":"","description":"d","rubric":{"type":"file","file_id":"file_1"},"max_iterations":3}`, true},
		{"file rubric without file_id", `{"type":"user.define_outcome","description":"d","rubric":{"type":"file"}}`, "e[0].rubric.file_id: field required", false},
		{"file rubric with content", `{"type":"user.define_outcome","description":"d","rubric":{"type":"file","file_id":"f","content":"r"}}`, "e[0].rubric.content: not allowed", false},
		{"text rubric with file_id", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r","file_id":"f"}}`, "e[0].rubric.file_id: not allowed", false},
		{"max_iterations 0", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"},"max_iterations":0}`, "between 1 and 20", false},
		{"max_iterations 21", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"},"max_iterations":21}`, "between 1 and 20", false},
		{"max_iterations fraction", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"},"max_iterations":1.5}`, "between 1 and 20", false},
		{"client outcome_id", `{"type":"user.define_outcome","description":"d","rubric":{"type":"text","content":"r"},"outcome_id":"outc_x"}`, "e[0].outcome_id: extra inputs are not permitted", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := validateEvents("e", []json.RawMessage{json.RawMessage(tt.body)}, sendableEvents)
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(evs[0].Body) != tt.want {
				t.Errorf("body %s\nwant %s", evs[0].Body, tt.want)
			}
			if got := string(withOutcomeID(evs[0].Body, "outc_1")); !strings.Contains(got, `"outcome_id":"outc_1"`) {
				t.Errorf("withOutcomeID: %s", got)
			}
		})
	}
}
