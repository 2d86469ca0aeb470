package engine

import "fmt"

// Ending is how a CLI run ended, as its reader goroutine saw it once the process exited.
type Ending struct {
	// Name prefixes wrapped wait errors ("claude: wait: ...").
	Name string
	// Interrupted: the client interrupted the run (a clean end, whatever the exit).
	Interrupted bool
	// Ctx is the run context's error (cancelled or timed out).
	Ctx error
	// Translate is the translator's error (a protocol failure it classified).
	Translate error
	// Wait is the process wait error.
	Wait error
	// Finished: the CLI reported the end of the turn before exiting.
	Finished bool
	// Exit builds the error of a CLI that exited before finishing the turn.
	Exit func() error
}

// Err classifies the ending, in this order: an interrupted run is no failure; then the
// context's error, the translator's, the wait error; a run that finished is no failure;
// else Exit's error.
func (e Ending) Err() error {
	switch {
	case e.Interrupted:
		return nil
	case e.Ctx != nil:
		return e.Ctx
	case e.Translate != nil:
		return e.Translate
	case e.Wait != nil:
		return fmt.Errorf("%s: wait: %w", e.Name, e.Wait)
	case e.Finished:
		return nil
	default:
		return e.Exit()
	}
}

// ErrOf returns err as an error: nil for a nil *Error. (A nil *Error stored in an error
// is a non-nil interface; translators return *Error.)
func ErrOf(err *Error) error {
	if err == nil {
		return nil
	}
	return err
}

// ExitedEarly is the error of a CLI that exited with code before finishing the turn, with
// detail (e.g. the end of its stderr) when there is any.
func ExitedEarly(cli string, code int, detail string) error {
	msg := fmt.Sprintf("%s exited with code %d before finishing the turn", cli, code)
	if detail != "" {
		msg += ": " + detail
	}
	return &Error{Type: "unknown_error", Message: msg}
}
