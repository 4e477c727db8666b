/* A runtime-less test guest for the rewriter (built by the tests with
 * clang --target=wasm32-wasi --sysroot=/usr/share/wasi-sysroot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned collatz_steps(unsigned long long n) {
	unsigned steps = 0;
	while (n != 1) {
		n = (n & 1) ? 3 * n + 1 : n / 2;
		steps++;
	}
	return steps;
}

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "spin") == 0) {
		volatile unsigned x = 0;
		for (;;) x++;
	}
	unsigned best = 0, arg = 0;
	for (unsigned i = 1; i < 100000; i++) {
		unsigned s = collatz_steps(i);
		if (s > best) { best = s; arg = i; }
	}
	int *v = malloc(1000 * sizeof(int));
	for (int i = 0; i < 1000; i++) v[i] = (i * 7919) % 1000;
	qsort(v, 1000, sizeof(int), cmp);
	printf("collatz=%u@%u fib=%d sorted=%d,%d\n", best, arg, fib(24), v[0], v[999]);
	free(v);
	return 0;
}
