package cronjob

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	if _, err := Start("* * *", slog.New(slog.DiscardHandler), func(context.Context) {}); err == nil {
		t.Fatal("a five-field schedule was accepted")
	}
	ran := make(chan struct{}, 10)
	stopped := make(chan struct{})
	stop, err := Start("* * * * * *", slog.New(slog.DiscardHandler), func(ctx context.Context) {
		ran <- struct{}{}
		<-ctx.Done() // a long pass: stop cancels it
		close(stopped)
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(3 * time.Second):
		t.Fatal("the job did not run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("stop returned before the running pass")
	}
}

// refuseOdd grants the passes of even seconds only.
type refuseOdd struct{ unlocked chan time.Time }

func (r refuseOdd) TryLock(_ context.Context, _ string, slot time.Time) (func(), bool, error) {
	if slot.Second()%2 == 1 {
		return nil, false, nil
	}
	return func() { r.unlocked <- slot }, true, nil
}

// TestOnce: a pass the Locker refuses does not run; a granted one runs
// between TryLock and unlock, with its scheduled second as the slot.
func TestOnce(t *testing.T) {
	l := refuseOdd{unlocked: make(chan time.Time, 10)}
	ran := make(chan time.Time, 10)
	stop, err := Start("* * * * * *", slog.New(slog.DiscardHandler), func(context.Context) {
		ran <- time.Now()
	}, Once(l, "job"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case at := <-ran:
			slot := <-l.unlocked
			if slot.Nanosecond() != 0 || slot.Second()%2 == 1 || at.Before(slot) {
				t.Errorf("ran at %v for slot %v", at, slot)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no granted pass ran")
		}
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
