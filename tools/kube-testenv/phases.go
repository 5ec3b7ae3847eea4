package main

import (
	"fmt"
	"os"
	"time"
)

// phaseLog writes how long each step of a start took to standard error (the log the tests
// keep): every test binary starts a control plane, so its start is CI's to watch.
type phaseLog struct {
	started time.Time
	last    time.Time
}

func newPhaseLog() *phaseLog {
	now := time.Now()
	return &phaseLog{started: now, last: now}
}

func (p *phaseLog) done(what string) {
	now := time.Now()
	fmt.Fprintf(os.Stderr, "kube-testenv: %s in %s (%s since start)\n", what,
		now.Sub(p.last).Round(time.Millisecond), now.Sub(p.started).Round(time.Millisecond))
	p.last = now
}
