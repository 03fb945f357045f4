package store

import (
	"context"
	"testing"
)

func TestEventActor(t *testing.T) {
	s := newTestStore(t, Options{})
	ctx := context.Background()
	if _, err := s.AddEvent(WithActor(ctx, "alice"), Event{Type: EventProcessCrashed, App: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvent(ctx, Event{Type: EventProcessCrashed, App: "web"}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListEvents(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Actor != "alice" || evs[1].Actor != ActorDaemon {
		t.Fatalf("actors: got %+v, want alice then %q", evs, ActorDaemon)
	}
}
