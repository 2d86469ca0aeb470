package hangar

import "strings"

// Budget is a session's spend ceiling (CMA BudgetLimit): the session stops issuing model
// requests once its usage, priced at list price, reaches MaxListCost.
type Budget struct {
	Type        string         `json:"type"`
	MaxListCost MonetaryAmount `json:"max_list_cost"`
}

// MonetaryAmount is an amount in minor units of Currency ("2500" USD is $25.00).
type MonetaryAmount struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// modelPrice is a model's list price in US dollars per million tokens.
type modelPrice struct {
	input, output, cacheRead, cacheWrite5m, cacheWrite1h float64
}

// listPrices by model ID prefix, longest first where prefixes overlap. Models not listed
// (other vendors' models run by codex, gemini, opencode) are priced as defaultPrice, so a
// budget binds every engine.
var listPrices = []struct {
	prefix string
	price  modelPrice
}{
	{"claude-opus-4-5", modelPrice{5, 25, 0.5, 6.25, 10}},
	{"claude-opus-4-6", modelPrice{5, 25, 0.5, 6.25, 10}},
	{"claude-opus-4", modelPrice{15, 75, 1.5, 18.75, 30}},
	{"claude-sonnet-4", modelPrice{3, 15, 0.3, 3.75, 6}},
	{"claude-haiku-4", modelPrice{1, 5, 0.1, 1.25, 2}},
	{"claude-3-5-haiku", modelPrice{0.8, 4, 0.08, 1, 1.6}},
	{"claude-3-7-sonnet", modelPrice{3, 15, 0.3, 3.75, 6}},
	{"claude-3-5-sonnet", modelPrice{3, 15, 0.3, 3.75, 6}},
	{"claude-3-opus", modelPrice{15, 75, 1.5, 18.75, 30}},
	{"claude-3-haiku", modelPrice{0.25, 1.25, 0.03, 0.3, 0.5}},
}

// HasListPrice reports whether model has a public list price in the table above. Sessions
// of other models (other vendors' models run by codex, gemini, opencode) show no
// usage.list_cost, although budgets price them at defaultPrice.
func HasListPrice(model string) bool {
	for _, lp := range listPrices {
		if strings.HasPrefix(model, lp.prefix) {
			return true
		}
	}
	return false
}

// ListCost returns the session's cumulative list cost in US cents: CostCents, which the
// runner accumulates request by request, or, for a session stored before it did, its usage
// priced with its current model.
func (s *Session) ListCost() float64 {
	if s.CostCents > 0 {
		return s.CostCents
	}
	return ListCostCents(s.Agent.Model.ID, s.Usage)
}

// ReachedCost reports whether a list cost of cents has reached the budget. A nil budget
// is never reached.
func (b *Budget) ReachedCost(cents float64) bool {
	if b == nil {
		return false
	}
	var limit float64
	for _, c := range b.MaxListCost.Amount {
		limit = limit*10 + float64(c-'0')
	}
	return cents >= limit
}

var defaultPrice = modelPrice{3, 15, 0.3, 3.75, 6}

// ListCostCents prices u for model at list price, in US cents.
func ListCostCents(model string, u Usage) float64 {
	p := defaultPrice
	for _, lp := range listPrices {
		if strings.HasPrefix(model, lp.prefix) {
			p = lp.price
			break
		}
	}
	dollars := (float64(u.InputTokens)*p.input +
		float64(u.OutputTokens)*p.output +
		float64(u.CacheReadInputTokens)*p.cacheRead +
		float64(u.CacheCreation.Ephemeral5mInputTokens)*p.cacheWrite5m +
		float64(u.CacheCreation.Ephemeral1hInputTokens)*p.cacheWrite1h) / 1e6
	return dollars * 100
}

// Reached reports whether usage u of model has reached the budget. A nil budget is never
// reached.
func (b *Budget) Reached(model string, u Usage) bool {
	if b == nil {
		return false
	}
	var limit float64
	for _, c := range b.MaxListCost.Amount {
		limit = limit*10 + float64(c-'0')
	}
	return ListCostCents(model, u) >= limit
}
