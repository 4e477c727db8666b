// Package archtest holds no code, only tests of the module as a whole: the
// arrows between edged's packages, and the length of its functions. Every
// package of the module has a layer and a list of the packages of ours it may
// import, all of a lower layer, so imports only point down: leaves (limits,
// trace, shadow) import nothing of ours; isolate and strangler import only
// leaves; the router imports those; internal/config and internal/otlp never
// import the router; cmd/edged sits on top. A new package, or a new arrow, is
// added to the table in arch_test.go; an arrow pointing up (or sideways within
// a layer) fails the test. No function outside the tests is longer than 80
// lines (funclen_test.go) unless longFuncs gives the reason.
package archtest
