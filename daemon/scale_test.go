package daemon

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// The engine bounds a scale itself, so a door that forgets (the API once
// allowed 100) cannot start more containers than the others allow.
func TestEngineScaleBounded(t *testing.T) {
	rt := newFakeRuntime(t)
	e := newEngine(t, newAppsStore(t, "web"), rt)
	if _, _, err := e.deploy(t, "img:1"); err != nil {
		t.Fatal(err)
	}
	before := len(rt.events())
	for _, n := range []int{-1, MaxScale + 1} {
		err := e.d.Scale(context.Background(), ScaleRequest{App: "web", Scale: map[string]int{"web": n}}, io.Discard)
		var ie InputError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, "want a count from 0 to") {
			t.Fatalf("Scale(web=%d) = %v, want an InputError naming the bound", n, err)
		}
	}
	if got := rt.events(); len(got) != before {
		t.Fatalf("a refused scale touched containers: %v", got[before:])
	}
	if f, err := e.st.Formation(context.Background(), "web"); err != nil || f["web"] > 1 {
		t.Fatalf("formation after refusals: %v, %v", f, err)
	}
}
