package runner

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// Session budgets (docs/resources.md "Budgets"). After every model request the engine
// reports (an event with usage: span.model_request_end), the runner prices the session's
// cumulative usage at list price (hangar.ListCostCents) and, once it reaches the budget's
// max_list_cost, stops the run as an interrupt would and ends the turn with stop_reason
// budget_reached. A turn that starts with the budget already reached (a message queued
// before) ends at once the same way, without running the engine. This works for every
// engine, since it relies only on the usage engines report.

// checkBudget stops the turn's run when the session's budget is reached. The caller holds
// st.mu.
func (t *turn) checkBudget(ctx context.Context) {
	sess, err := t.r.store.GetSession(ctx, t.st.id)
	if err != nil || !sess.Budget.ReachedCost(sess.ListCost()) {
		return
	}
	if !t.budget {
		t.r.log.Info("session budget reached; stopping the turn", "session", t.st.id, "max_list_cost", sess.Budget.MaxListCost.Amount)
	}
	t.budget = true
	if ts := t.st.threads; ts != nil {
		ts.budget = true // running child threads stop with budget_reached too (thread_run.go)
	}
	if t.st.turnActive {
		t.st.interrupt = true
		t.st.notify()
	}
}

// budgetBlocked ends the turn at once, with budget_reached, when the session's budget is
// already reached; it reports whether it did.
func (t *turn) budgetBlocked(ctx context.Context, msg hangar.Event) bool {
	sess, err := t.r.store.GetSession(ctx, t.st.id)
	if err != nil || !sess.Budget.ReachedCost(sess.ListCost()) {
		return false
	}
	t.budget = true
	if _, err := t.running(ctx, msg, true); err != nil {
		return true
	}
	t.finish(ctx, msg, nil, true)
	return true
}

// budgetIdle replaces the idle event that ends a turn stopped by its budget.
func (t *turn) budgetIdle(evs []hangar.Event) []hangar.Event {
	if !t.budget || len(evs) == 0 {
		return evs
	}
	evs[len(evs)-1] = t.r.idleEvent(hangar.StopReason{Type: "budget_reached"})
	return evs
}
