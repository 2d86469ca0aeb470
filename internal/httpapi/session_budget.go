package httpapi

import (
	"encoding/json"
	"regexp"

	"github.com/hangar-dev/hangar"
)

// Session budgets (CMA BudgetLimit): {type:"limit", max_list_cost:{amount, currency:"USD"}},
// the amount an integer string in cents. The runner stops a turn once the session's usage,
// at list price, reaches it (internal/runner/budget.go); while it is reached the session
// accepts only the events that settle a turn.

var budgetAmount = regexp.MustCompile(`^[0-9]{1,15}$`)

// parseBudget validates a budget param; null gives nil.
func parseBudget(field string, raw json.RawMessage) (*hangar.Budget, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := objectType(field, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "limit":
	case "":
		return nil, invalidf("%s.type: field required", field)
	default:
		return nil, invalidf("%s.type: must be \"limit\" (got %q)", field, typ)
	}
	var p struct {
		Type        string `json:"type"`
		MaxListCost *struct {
			Amount   *string `json:"amount"`
			Currency *string `json:"currency"`
		} `json:"max_list_cost"`
	}
	if err := decodeAt(field, raw, &p); err != nil {
		return nil, err
	}
	if p.MaxListCost == nil {
		return nil, invalidf("%s.max_list_cost: field required", field)
	}
	if p.MaxListCost.Amount == nil || !budgetAmount.MatchString(*p.MaxListCost.Amount) {
		return nil, invalidf("%s.max_list_cost.amount: must be a non-negative integer string in minor units (cents)", field)
	}
	if p.MaxListCost.Currency == nil || *p.MaxListCost.Currency != "USD" {
		return nil, invalidf("%s.max_list_cost.currency: must be \"USD\"", field)
	}
	return &hangar.Budget{Type: "limit", MaxListCost: hangar.MonetaryAmount{Amount: *p.MaxListCost.Amount, Currency: "USD"}}, nil
}

// settleEvents are the events a session whose budget is reached still accepts.
var settleEvents = map[string]bool{
	hangar.EventUserInterrupt:        true,
	hangar.EventUserToolConfirmation: true,
	hangar.EventUserCustomToolResult: true,
	"user.tool_result":               true,
}

// checkBudget refuses events other than settle events once sess has reached its budget.
func checkBudget(sess *hangar.Session, evs []clientEvent) error {
	if !sess.Budget.ReachedCost(sess.ListCost()) {
		return nil
	}
	for i, ev := range evs {
		if !settleEvents[ev.Type] {
			return invalidf("events[%d]: session %s has reached its budget (max_list_cost %s %s); only %s are accepted", i, sess.ID, sess.Budget.MaxListCost.Amount, sess.Budget.MaxListCost.Currency, "user.interrupt, user.tool_confirmation, user.custom_tool_result, user.tool_result")
		}
	}
	return nil
}
