// Command goguest is a test guest for the rewriter: built with GOOS=wasip1
// GOARCH=wasm by the tests, it exercises loops, calls, goroutines, channels,
// maps and the garbage collector, and prints deterministic results.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"sort"
	"strings"
)

func primes(n int) int {
	sieve := make([]bool, n+1)
	count := 0
	for i := 2; i <= n; i++ {
		if sieve[i] {
			continue
		}
		count++
		for j := i * i; j <= n; j += i {
			sieve[j] = true
		}
	}
	return count
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "spin" {
		x := 0
		for {
			x++
		}
	}
	results := make(chan string)
	go func() { results <- fmt.Sprintf("primes=%d", primes(200000)) }()
	go func() { results <- fmt.Sprintf("fib=%d", fib(25)) }()
	go func() {
		var garbage [][]byte
		for i := range 2000 {
			garbage = append(garbage, make([]byte, 1024+i))
			if len(garbage) > 100 {
				garbage = garbage[50:]
			}
		}
		sum := sha256.Sum256(garbage[len(garbage)-1])
		results <- fmt.Sprintf("sha=%x", sum[:4])
	}()
	got := []string{<-results, <-results, <-results}
	sort.Strings(got)
	m := map[string]int{}
	for _, w := range strings.Fields("a b c a b a") {
		m[w]++
	}
	fmt.Println(strings.Join(got, " "), "a=", m["a"])
}
