package native

// TranscriptLen decodes a resume token and returns its number of messages (-1 when it
// does not decode).
func TranscriptLen(tok string) int {
	tr, err := decodeTranscript(tok)
	if err != nil {
		return -1
	}
	return len(tr.Messages)
}
