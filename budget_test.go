package hangar

import (
	"math"
	"testing"
)

func TestListCostCents(t *testing.T) {
	tests := []struct {
		model string
		u     Usage
		want  float64
	}{
		{"claude-sonnet-4-6", Usage{InputTokens: 1_000_000}, 300},
		{"claude-sonnet-4-6", Usage{OutputTokens: 1_000_000}, 1500},
		{"claude-opus-4-1", Usage{InputTokens: 1_000_000}, 1500},
		{"claude-opus-4-6", Usage{InputTokens: 1_000_000}, 500},
		{"claude-haiku-4-5", Usage{InputTokens: 1_000_000, CacheReadInputTokens: 1_000_000}, 110},
		{"claude-sonnet-4-5", Usage{CacheCreation: CacheCreation{Ephemeral5mInputTokens: 1_000_000, Ephemeral1hInputTokens: 1_000_000}}, 975},
		{"gpt-5-codex", Usage{InputTokens: 1_000_000}, 300}, // unknown: priced as Sonnet
	}
	for _, tt := range tests {
		if got := ListCostCents(tt.model, tt.u); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("ListCostCents(%s, %+v) = %v, want %v", tt.model, tt.u, got, tt.want)
		}
	}
}

func TestBudgetReached(t *testing.T) {
	b := &Budget{Type: "limit", MaxListCost: MonetaryAmount{Amount: "30", Currency: "USD"}}
	tests := []struct {
		name   string
		budget *Budget
		input  int64
		want   bool
	}{
		{"no budget", nil, 10_000_000, false},
		{"under", b, 99_999, false},
		{"exactly at", b, 100_000, true},
		{"over", b, 200_000, true},
	}
	for _, tt := range tests {
		if got := tt.budget.Reached("claude-sonnet-4-6", Usage{InputTokens: tt.input}); got != tt.want {
			t.Errorf("%s: Reached = %v, want %v", tt.name, got, tt.want)
		}
	}
}
