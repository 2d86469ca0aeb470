package engine

import (
	"context"
	"errors"
	"testing"
)

func TestEndingErr(t *testing.T) {
	exit := func() error { return ExitedEarly("cli", 3, "boom") }
	waitErr := errors.New("wait failed")
	protocol := &Error{Type: "model_request_failed_error", Message: "bad"}
	for _, tt := range []struct {
		name string
		e    Ending
		want string // "" = nil
	}{
		{"interrupted wins", Ending{Interrupted: true, Ctx: context.Canceled, Wait: waitErr}, ""},
		{"context", Ending{Ctx: context.Canceled, Translate: protocol}, "context canceled"},
		{"translator", Ending{Translate: protocol, Wait: waitErr}, "model_request_failed_error: bad"},
		{"wait", Ending{Name: "cli", Wait: waitErr, Finished: true}, "cli: wait: wait failed"},
		{"finished", Ending{Finished: true}, ""},
		{"no translator error", Ending{Translate: ErrOf(nil), Finished: true}, ""},
		{"exited early", Ending{}, "unknown_error: cli exited with code 3 before finishing the turn: boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.e.Exit == nil {
				tt.e.Exit = exit
			}
			err := tt.e.Err()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Err() = %q, want %q", got, tt.want)
			}
		})
	}
	if err := ExitedEarly("cli", 1, ""); err.Error() != "unknown_error: cli exited with code 1 before finishing the turn" {
		t.Errorf("ExitedEarly without detail = %q", err)
	}
}
