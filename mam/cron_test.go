package mam_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"dormouse.im/dormouse/mam"
	"dormouse.im/dormouse/mam/mamtest"
)

func TestStartRetention(t *testing.T) {
	e := newEnv(t, memBackend, mam.Config{})
	for _, spec := range []string{"", "0 3 * * *", "@daily", "61 * * * * *", "0 30 3 * * * *", "nonsense"} {
		if stop, err := e.svc.StartRetention(spec, time.Hour); err == nil {
			stop(e.ctx)
			t.Errorf("StartRetention(%q) accepted", spec)
		}
		if err := mam.ValidateSchedule(spec); err == nil {
			t.Errorf("ValidateSchedule(%q) accepted", spec)
		}
	}
	if _, err := e.svc.StartRetention("0 30 3 * * *", 0); err == nil {
		t.Error("StartRetention with maxAge 0 accepted")
	}
	if err := mam.ValidateSchedule("0 30 3 * * *"); err != nil {
		t.Error(err)
	}
	// Every second: it runs (the real clock drives cron; the job reads
	// the fake clock), and stop waits for it.
	e.online("bob@localhost/phone")
	e.send(aliceDesk, `<message type='chat' to='bob@localhost'><body>old</body></message>`)
	e.clock.set(epoch.Add(48 * time.Hour))
	stop, err := e.svc.StartRetention("* * * * * *", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.mem.Len("bob@localhost") != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.mem.Len("bob@localhost"); n != 0 {
		t.Errorf("scheduled retention left %d messages", n)
	}
}

func ExampleService_StartRetention() {
	svc := mam.New(mam.Config{}, mamtest.New(), nil, nil)
	// mam.purge_schedule and mam.expire_after: every day at 03:30:00,
	// delete what is older than a year.
	stop, err := svc.StartRetention("0 30 3 * * *", 365*24*time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop(context.Background())
	_, err = svc.StartRetention("0 3 * * *", time.Hour)
	fmt.Println(err != nil)
	// Output: true
}
