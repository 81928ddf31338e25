package feed

import (
	"errors"
	"testing"
)

func TestFanout(t *testing.T) {
	f := New()
	var got []string
	unsub := f.Subscribe(func(id string) { got = append(got, id) })
	f.Dispatch("a", "b")
	unsub()
	f.Dispatch("c")
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("dispatched %v, want [a b]", got)
	}

	var health []bool
	stop := f.WatchHealth(func(h bool) { health = append(health, h) })
	logged := 0
	count := func(error) { logged++ }
	f.SetHealth(nil, count) // no change
	f.SetHealth(errors.New("lost"), count)
	f.SetHealth(errors.New("still lost"), count) // no change
	f.SetHealth(nil, count)
	if len(health) != 2 || health[0] || !health[1] || logged != 2 || f.Outages() != 1 {
		t.Fatalf("health %v, logged %d, outages %d", health, logged, f.Outages())
	}
	f.SetHealth(errors.New("lost"), count)
	late := false
	f.WatchHealth(func(h bool) { late = !h })
	if !late {
		t.Fatal("a watcher of an unhealthy feed is told at once")
	}
	stop()
}
