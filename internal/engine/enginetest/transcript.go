package enginetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
)

// TranscriptLines returns the lines of testdata/name, a recorded CLI output transcript.
func TranscriptLines(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return lines
}

// Render prints events one per line, for golden files.
func Render(evs []engine.Event) string {
	var sb strings.Builder
	for _, ev := range evs {
		sb.WriteString(ev.Type)
		if ev.ID != "" {
			fmt.Fprintf(&sb, " id=%s", ev.ID)
		}
		if ev.Ref != "" {
			fmt.Fprintf(&sb, " ref=%s", ev.Ref)
		}
		if ev.Resume != "" {
			fmt.Fprintf(&sb, " resume=%s", ev.Resume)
		}
		if ev.Body != nil {
			b, _ := json.Marshal(ev.Body)
			fmt.Fprintf(&sb, " %s", b)
		}
		if ev.Usage != nil {
			b, _ := json.Marshal(ev.Usage)
			fmt.Fprintf(&sb, " usage=%s", b)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
