package store

import (
	"context"
	"errors"
	"testing"
)

func TestCronRuns(t *testing.T) {
	ctx := context.Background()
	var events []Event
	s := newTestStore(t, Options{OnEvent: func(e Event) { events = append(events, e) }})
	if _, err := s.CreateApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartCronRun(ctx, CronRun{App: "nope", Job: "j", Trigger: "schedule"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("run of a missing app: err = %v, want ErrNotFound", err)
	}
	if _, err := s.StartCronRun(ctx, CronRun{App: "web", Job: "j", Trigger: "sometimes"}); err == nil {
		t.Fatal("bad trigger accepted")
	}
	ok, err := s.StartCronRun(ctx, CronRun{App: "web", Job: "aaaa", Command: "true", Schedule: "@daily", Release: 3, Trigger: "schedule"})
	if err != nil {
		t.Fatal(err)
	}
	if ok.Status != "running" || ok.ExitCode != -1 || ok.ID == 0 {
		t.Fatalf("started run = %+v", ok)
	}
	if _, err := s.FinishCronRun(ctx, ok.ID, 0, []byte("fine\n"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishCronRun(ctx, ok.ID, 1, nil, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finishing a finished run: err = %v, want ErrNotFound", err)
	}
	bad, _ := s.StartCronRun(ctx, CronRun{App: "web", Job: "bbbb", Command: "false", Schedule: "@hourly", Release: 3, Trigger: "manual"})
	if r, err := s.FinishCronRun(ctx, bad.ID, 2, []byte("oops\n"), ""); err != nil || r.Status != "failed" || r.ExitCode != 2 {
		t.Fatalf("failed run = %+v, %v", r, err)
	}
	hung, _ := s.StartCronRun(ctx, CronRun{App: "web", Job: "aaaa", Command: "true", Schedule: "@daily", Release: 3, Trigger: "schedule"})
	if n, err := s.InterruptCronRuns(ctx, ok.ID, nil); err != nil || n != 0 {
		t.Fatalf("interrupting a finished run: %d, %v; want 0", n, err)
	}
	if n, err := s.InterruptCronRuns(ctx, 0, nil); err != nil || n != 1 {
		t.Fatalf("InterruptCronRuns = %d, %v; want 1", n, err)
	}

	runs, err := s.ListCronRuns(ctx, "web", "", 10)
	if err != nil || len(runs) != 3 {
		t.Fatalf("ListCronRuns = %d runs, %v", len(runs), err)
	}
	if runs[0].ID != hung.ID || runs[0].Status != "interrupted" || runs[0].FinishedAt.IsZero() {
		t.Errorf("newest run = %+v, want the interrupted one", runs[0])
	}
	if only, _ := s.ListCronRuns(ctx, "web", "bbbb", 10); len(only) != 1 || only[0].ID != bad.ID {
		t.Errorf("runs of job bbbb = %+v", only)
	}
	last, err := s.LastCronRuns(ctx, "web")
	if err != nil || len(last) != 2 || last["aaaa"].ID != hung.ID || last["bbbb"].ID != bad.ID {
		t.Errorf("LastCronRuns = %+v, %v", last, err)
	}
	got, err := s.GetCronRun(ctx, "web", ok.ID)
	if err != nil || string(got.Output) != "fine\n" || got.Status != "succeeded" || got.Release != 3 {
		t.Errorf("GetCronRun = %+v, %v", got, err)
	}
	var failed int
	for _, e := range events {
		if e.Type == EventCronFailed {
			failed++
			if e.App != "web" || e.Data["job"] != "bbbb" {
				t.Errorf("cron:failed event = %+v", e)
			}
		}
	}
	if failed != 1 {
		t.Errorf("cron:failed events = %d, want 1 (success and interruption send none)", failed)
	}
	if err := s.DeleteApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCronRun(ctx, "web", ok.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("runs outlived their app: %v", err)
	}
}
