package iam

import (
	"sync"

	"github.com/jitaccess/jitaccess/internal/condition"
)

// conds memoizes what the conditions of policy bindings say. A batch
// applies each of its items to the same policy, and each item's change
// scans every binding (the sweep of expired bindings, the request's
// record), while parsing one CEL condition costs a few hundred
// microseconds: without the memo, a batch of a hundred decisions on a
// policy of a few hundred bindings parsed the same conditions tens of
// thousands of times, seconds per attempt, and so lost the etag race to
// every other writer. What a condition says is a function of its title
// and expression alone. A nil *conds parses every time.
type conds struct {
	mu          sync.Mutex
	activations map[string]activationCond
	records     map[string]bool
}

type activationCond struct {
	w  condition.Window
	ok bool
}

// maxConds bounds each memo; a full one starts again empty. Google allows
// 1,500 principals per policy, so a few busy policies fit.
const maxConds = 4096

func newConds() *conds {
	return &conds{activations: map[string]activationCond{}, records: map[string]bool{}}
}

// activation is condition.ParseActivation, memoized.
func (m *conds) activation(title, expr string) (condition.Window, bool) {
	if title != condition.ActivationTitle {
		return condition.Window{}, false
	}
	if m == nil {
		return condition.ParseActivation(title, expr)
	}
	m.mu.Lock()
	r, found := m.activations[expr]
	m.mu.Unlock()
	if found {
		return r.w, r.ok
	}
	w, ok := condition.ParseActivation(title, expr)
	m.mu.Lock()
	if len(m.activations) >= maxConds {
		clear(m.activations)
	}
	m.activations[expr] = activationCond{w: w, ok: ok}
	m.mu.Unlock()
	return w, ok
}

// isRecord is condition.IsRecord, memoized.
func (m *conds) isRecord(title, expr string) bool {
	if title != condition.RecordTitle {
		return false
	}
	if m == nil {
		return condition.IsRecord(title, expr)
	}
	m.mu.Lock()
	r, found := m.records[expr]
	m.mu.Unlock()
	if found {
		return r
	}
	r = condition.IsRecord(title, expr)
	m.mu.Lock()
	if len(m.records) >= maxConds {
		clear(m.records)
	}
	m.records[expr] = r
	m.mu.Unlock()
	return r
}
