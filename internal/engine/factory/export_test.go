package factory

import "io"

// RecordTo makes the engine's runs copy droid's stdout to w (recording transcripts).
func (e *Engine) RecordTo(w io.Writer) { e.record = w }
