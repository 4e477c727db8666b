package limits

import (
	"errors"
	"sync"
	"testing"
)

func TestBudget(t *testing.T) {
	b := NewBudget(2)
	for i := range 2 {
		if err := b.Take(); err != nil {
			t.Fatalf("Take() #%d = %v, want nil", i+1, err)
		}
	}
	if err := b.Take(); !errors.Is(err, ErrSubrequestBudget) {
		t.Fatalf("Take() #3 = %v, want ErrSubrequestBudget", err)
	}
	if b.Used() != 2 || b.Remaining() != 0 {
		t.Errorf("Used(), Remaining() = %d, %d, want 2, 0", b.Used(), b.Remaining())
	}
	b.Reset(1)
	if b.Used() != 0 || b.Take() != nil || b.Take() == nil {
		t.Errorf("after Reset(1): Used %d, want one Take to succeed and the next to fail", b.Used())
	}
	if err := NewBudget(-3).Take(); !errors.Is(err, ErrSubrequestBudget) {
		t.Errorf("NewBudget(-3).Take() = %v, want ErrSubrequestBudget", err)
	}
	var zero Budget
	if err := zero.Take(); !errors.Is(err, ErrSubrequestBudget) {
		t.Errorf("Budget{}.Take() = %v, want ErrSubrequestBudget", err)
	}
}

func TestBudgetConcurrent(t *testing.T) {
	const n, workers = 100, 8
	b := NewBudget(n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range workers {
		wg.Go(func() {
			for range n {
				if b.Take() == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ok != n || b.Used() != n {
		t.Errorf("successful Takes = %d, Used() = %d, want %d", ok, b.Used(), n)
	}
}
