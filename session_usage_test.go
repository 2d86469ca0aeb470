package hangar

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSessionUsageSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		model   string
		prior   Usage // usage stored before costs were accumulated
		adds    []Usage
		running float64
		want    string
	}{
		{"opus 4.6 per request", "claude-opus-4-6", Usage{}, []Usage{{InputTokens: 1_000_000}, {OutputTokens: 100_000}}, 0,
			`{"input_tokens":1000000,"output_tokens":100000,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"active_seconds":10,"list_cost":{"amount":"750","currency":"USD"}}`},
		{"haiku 3 with cache", "claude-3-haiku-20240307", Usage{}, []Usage{{CacheReadInputTokens: 1_000_000, CacheCreation: CacheCreation{Ephemeral5mInputTokens: 1_000_000, Ephemeral1hInputTokens: 1_000_000}}}, 2.5,
			`{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":1000000,"cache_creation":{"ephemeral_1h_input_tokens":1000000,"ephemeral_5m_input_tokens":1000000},"active_seconds":12.5,"list_cost":{"amount":"83","currency":"USD"}}`},
		{"earlier usage is priced on the first add", "claude-sonnet-4-5", Usage{OutputTokens: 1_000_000}, []Usage{{OutputTokens: 1_000_000}}, 0,
			`{"input_tokens":0,"output_tokens":2000000,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"active_seconds":10,"list_cost":{"amount":"3000","currency":"USD"}}`},
		{"unpriced model has no list_cost", "gpt-5-codex", Usage{}, []Usage{{InputTokens: 5}}, 0,
			`{"input_tokens":5,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"active_seconds":10}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{Agent: Agent{Model: Model{ID: tt.model}}, Usage: tt.prior, Stats: Stats{ActiveSeconds: 10}}
			for _, u := range tt.adds {
				s.AddUsage(u)
			}
			got, _ := json.Marshal(s.UsageSnapshot(tt.running))
			if string(got) != tt.want {
				t.Errorf("snapshot\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("cost follows the model of each request", func(t *testing.T) {
		s := &Session{Agent: Agent{Model: Model{ID: "claude-opus-4-1"}}}
		s.AddUsage(Usage{OutputTokens: 1_000_000}) // $75
		s.Agent.Model.ID = "claude-haiku-4-5"
		s.AddUsage(Usage{OutputTokens: 1_000_000}) // $5
		if s.ListCost() != 8000 {
			t.Errorf("ListCost = %v, want 8000", s.ListCost())
		}
		b := &Budget{Type: "limit", MaxListCost: MonetaryAmount{Amount: "8000", Currency: "USD"}}
		if !b.ReachedCost(s.ListCost()) || b.ReachedCost(7999) || (*Budget)(nil).ReachedCost(1e9) {
			t.Error("ReachedCost")
		}
	})
	t.Run("event body", func(t *testing.T) {
		s := &Session{Agent: Agent{Model: Model{ID: "claude-sonnet-4-6"}}}
		b, _ := json.Marshal(SessionUsageEvent(s, 0))
		s.Budget = &Budget{Type: "limit", MaxListCost: MonetaryAmount{Amount: "10", Currency: "USD"}}
		if with, _ := json.Marshal(SessionUsageEvent(s, 0)); !strings.Contains(string(with), `"budget":{"type":"limit","max_list_cost":{"amount":"10","currency":"USD"}}`) {
			t.Errorf("body with budget %s", with)
		}
		if want := `{"usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"active_seconds":0,"list_cost":{"amount":"0","currency":"USD"}}}`; string(b) != want {
			t.Errorf("body %s", b)
		}
	})
}
