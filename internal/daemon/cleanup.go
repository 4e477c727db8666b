package daemon

// stack holds the cleanups of what the daemon set up, in the order it was set
// up; run undoes it in reverse. One stack serves a failed New and the end of
// Serve alike, so no path forgets a step.
type stack []func()

// push adds f to run before everything pushed earlier.
func (s *stack) push(f func()) { *s = append(*s, f) }

// run calls the cleanups, last pushed first, and empties the stack.
func (s *stack) run() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
	*s = nil
}
