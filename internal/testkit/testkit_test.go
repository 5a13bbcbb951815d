package testkit

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("after Advance, Now = %v", got)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("after Set, Now = %v", got)
	}
}

// TestLogBufferConcurrentWrites writes from many goroutines at once (run
// with -race): every line arrives whole.
func TestLogBufferConcurrentWrites(t *testing.T) {
	var l LogBuffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { fmt.Fprintf(&l, "line %02d\n", i) })
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(l.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, line := range lines {
		if len(line) != len("line 00") || !strings.HasPrefix(line, "line ") {
			t.Fatalf("torn line %q", line)
		}
	}
}
