package authtest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"dormouse.im/dormouse/auth"
)

func TestMemStore(t *testing.T) {
	ctx := context.Background()
	var m MemStore
	if _, err := m.Credentials(ctx, "a@x"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	for _, a := range []string{"b@y", "a@x", "c@x"} {
		if err := m.CreateAccount(ctx, a, auth.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.CreateAccount(ctx, "a@x", auth.Credentials{}); !errors.Is(err, auth.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if got, _ := m.Accounts(ctx, "x"); !slices.Equal(got, []string{"a@x", "c@x"}) {
		t.Errorf("accounts of x: %v", got)
	}
	if err := m.SetCredentials(ctx, "d@x", auth.Credentials{}); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("set unknown: %v", err)
	}
	boom := errors.New("disk full")
	m.FailWrites(boom)
	if err := m.DeleteAccount(ctx, "a@x"); err != boom {
		t.Errorf("failing delete: %v", err)
	}
	m.FailWrites(nil)
	if err := m.DeleteAccount(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Accounts(ctx, ""); !slices.Equal(got, []string{"b@y", "c@x"}) {
		t.Errorf("after delete: %v", got)
	}
}
