//go:build unix

package daemon

import (
	"log/slog"
	"syscall"
)

// minOpenFiles is the hard limit on open files below which the daemon warns at
// start: every client connection, upstream connection and module file holds a
// descriptor, and a connection surge beyond the limit fails in accept. The
// systemd unit sets LimitNOFILE=131072 (docs/deployment.md).
const minOpenFiles = 65536

// raiseOpenFiles raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit and logs both. Go's runtime does the same when the process starts
// (since Go 1.19), but only then: a limit lowered later, or a runtime that
// stops doing it, would cap the connections at the soft limit, often 1024. A
// hard limit below minOpenFiles is logged as a warning; the daemon cannot raise
// that itself without CAP_SYS_RESOURCE.
func raiseOpenFiles(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("reading the open files limit", "err", err)
		return
	}
	from := l.Cur
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			log.Warn("raising the open files limit", "soft", from, "hard", l.Max, "err", err)
			return
		}
	}
	args := []any{"soft", l.Cur, "hard", l.Max}
	if from != l.Cur {
		args = append(args, "raised_from", from)
	}
	if l.Max < minOpenFiles {
		log.Warn("open files limit is low: each connection holds one; raise the hard limit (systemd LimitNOFILE, ulimit -Hn)",
			append(args, "want_at_least", minOpenFiles)...)
		return
	}
	log.Info("open files limit", args...)
}
