package pgstore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

func TestParseNotice(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 1, 12, 0, 0, 123_000_000, time.UTC)
	deleted := hangar.Event{ID: "sevt_1", SessionID: "sesn_1", Type: hangar.EventSessionDeleted, ProcessedAt: &at, Body: json.RawMessage(`{"a":1}`)}
	live, err := encodeLive(deleted)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		payload string
		want    notice
		bad     bool
	}{
		{payload: "a:sesn_1:4:6", want: notice{sessionID: "sesn_1", first: 4, last: 6}},
		{payload: "a:sesn_1:1:1", want: notice{sessionID: "sesn_1", first: 1, last: 1}},
		{payload: live, want: notice{sessionID: "sesn_1", event: &deleted}},
		{payload: "a:sesn_1:6:4", bad: true},
		{payload: "a:sesn_1:0:4", bad: true},
		{payload: "a::1:2", bad: true},
		{payload: "a:sesn_1:x:2", bad: true},
		{payload: "a:sesn_1:1", bad: true},
		{payload: `e:{"session_id":"sesn_1"}`, bad: true},
		{payload: "e:not json", bad: true},
		{payload: "z:1", bad: true},
		{payload: "", bad: true},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			got, err := parseNotice(tc.payload)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseNotice = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(notice{})); d != "" {
				t.Errorf("parseNotice (-want +got):\n%s", d)
			}
		})
	}
}

func TestEncodeLiveLimit(t *testing.T) {
	t.Parallel()
	big := hangar.NewEvent(hangar.EventSessionUpdated, map[string]string{"x": strings.Repeat("a", maxPayload)})
	big.SessionID = "sesn_1"
	if _, err := encodeLive(big); err == nil {
		t.Error("encodeLive accepted an event over the NOTIFY payload limit")
	}
}
