package hangar

import (
	"math"
	"strconv"
)

// Session usage on the wire (docs/resources.md "Usage and cost"): the session's usage
// object and the session.usage event carry the cumulative token counts plus the time the
// session spent running and its list cost.

// EventSessionUsage is the event the runner emits after every model request that reports
// usage (span.model_request_end), with the session's usage snapshot and budget.
const EventSessionUsage = "session.usage"

// UsageSnapshot is the wire form of a session's usage: Usage plus active_seconds and,
// when the session's model has a public list price, list_cost.
type UsageSnapshot struct {
	Usage
	ActiveSeconds float64         `json:"active_seconds"`
	ListCost      *MonetaryAmount `json:"list_cost,omitempty"`
}

// AddUsage adds the usage of one model request to the session, pricing it with the
// session's current model. A session stored before costs were accumulated first gets its
// earlier usage priced the same way.
func (s *Session) AddUsage(u Usage) {
	if s.CostCents == 0 {
		s.CostCents = ListCostCents(s.Agent.Model.ID, s.Usage)
	}
	s.Usage.Add(u)
	s.CostCents += ListCostCents(s.Agent.Model.ID, u)
}

// UsageSnapshot returns the session's usage as shown on the wire. running is the time
// the current run has been going that Stats.ActiveSeconds does not count yet (0 when the
// session is not running).
func (s *Session) UsageSnapshot(running float64) UsageSnapshot {
	out := UsageSnapshot{Usage: s.Usage, ActiveSeconds: s.Stats.ActiveSeconds + running}
	if HasListPrice(s.Agent.Model.ID) {
		out.ListCost = &MonetaryAmount{Amount: strconv.FormatInt(int64(math.Round(s.ListCost())), 10), Currency: "USD"}
	}
	return out
}

// SessionUsageEvent builds the body fields of a session.usage event for s: its usage
// snapshot and, when it has one, its budget (absent reads as null).
func SessionUsageEvent(s *Session, running float64) map[string]any {
	out := map[string]any{"usage": s.UsageSnapshot(running)}
	if s.Budget != nil {
		out["budget"] = s.Budget
	}
	return out
}
