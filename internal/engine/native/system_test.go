package native_test

import (
	"testing"
)

// TestSystemTurn: a system.message reaches the model as a <system-reminder> block after
// the user message it accompanies, and stays in the conversation of later turns.
func TestSystemTurn(t *testing.T) {
	f := newFixture(t)
	sb := sandbox(t)
	a := agent(toolset)
	s := spec(a, "hello")
	s.System = []string{"Answer in French."}
	_, resume, err := turn(t, f.engine(t), sb, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2 := spec(a, "again")
	s2.Resume, s2.Turn = resume, 1
	if _, _, err := turn(t, f.engine(t), sb, s2, nil); err != nil {
		t.Fatal(err)
	}
	reqs := f.fake.MessageRequests()
	for i, r := range []int{0, len(reqs) - 1} {
		first := reqs[r].Messages[0]
		if first.Role != "user" || len(first.Content) != 2 || first.Content[0].Text != "hello" ||
			first.Content[1].Text != "<system-reminder>\nAnswer in French.\n</system-reminder>" {
			t.Errorf("request %d: first message %+v", i, first)
		}
	}
}
