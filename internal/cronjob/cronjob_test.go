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
