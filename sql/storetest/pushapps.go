package storetest

import (
	"bytes"
	"testing"
	"time"

	"dormouse.im/dormouse/push/appserver"
	"dormouse.im/dormouse/sql"
)

func testPushApps(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	p := s.PushApps
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

	g0, err := p.AppsGeneration(ctx)
	check(t, "AppsGeneration", err)
	if apps, err := p.Apps(ctx); err != nil || len(apps) != 0 {
		t.Fatalf("Apps on an empty store = %v, %v", apps, err)
	}
	creds := []byte("p{\"key\":\"\x00binary\xff\"}")
	check(t, "PutApp", p.PutApp(ctx, appserver.StoredApp{Name: "droid", Platform: appserver.FCM, Credentials: creds, Updated: t0}))
	check(t, "PutApp", p.PutApp(ctx, appserver.StoredApp{Name: "ios", Platform: appserver.APNs, Credentials: []byte("g1"), Updated: t0}))
	apps, err := p.Apps(ctx)
	check(t, "Apps", err)
	if len(apps) != 2 || apps[0].Name != "droid" || apps[0].Platform != appserver.FCM || !bytes.Equal(apps[0].Credentials, creds) ||
		!apps[0].Updated.Equal(t0) || apps[1].Name != "ios" {
		t.Fatalf("Apps = %+v", apps)
	}
	g1, err := p.AppsGeneration(ctx)
	check(t, "AppsGeneration", err)
	if g1 != g0+2 {
		t.Errorf("generation %d after two PutApp, want %d", g1, g0+2)
	}
	// Replace.
	check(t, "PutApp (replace)", p.PutApp(ctx, appserver.StoredApp{Name: "ios", Platform: appserver.APNs, Credentials: []byte("g2"), Updated: t0}))
	apps, _ = p.Apps(ctx)
	if len(apps) != 2 || string(apps[1].Credentials) != "g2" {
		t.Errorf("after replace: %+v", apps)
	}

	// Registrations.
	r := appserver.Registration{Node: "n1", Secret: "s1", App: "droid", Token: "tok1", Device: "dev1",
		Domain: "example.org", Account: "alice@example.org", Created: t0, LastUsed: t0}
	got, err := p.Register(ctx, r)
	check(t, "Register", err)
	if got != r {
		t.Fatalf("Register = %+v, want %+v", got, r)
	}
	// Re-registering the device keeps node and secret, takes the new token.
	t1 := t0.Add(time.Hour)
	again := r
	again.Node, again.Secret, again.Token, again.Created, again.LastUsed = "n2", "s2", "tok2", t1, t1
	got, err = p.Register(ctx, again)
	check(t, "Register (again)", err)
	if got.Node != "n1" || got.Secret != "s1" || got.Token != "tok2" || !got.Created.Equal(t0) || !got.LastUsed.Equal(t1) {
		t.Errorf("re-Register = %+v", got)
	}
	if _, err := p.Register(ctx, appserver.Registration{Node: "x", App: "nope", Device: "d", Created: t0, LastUsed: t0}); err == nil {
		t.Error("Register for a missing app succeeded")
	} else {
		wantErr(t, "Register for a missing app", err, appserver.ErrNotFound)
	}
	_, err = p.Registration(ctx, "n2")
	wantErr(t, "Registration of an unknown node", err, appserver.ErrNotFound)
	got, err = p.Registration(ctx, "n1")
	check(t, "Registration", err)
	if got.Token != "tok2" || got.Account != "alice@example.org" || !got.LastSuccess.IsZero() {
		t.Errorf("Registration = %+v", got)
	}

	// Results.
	t2 := t1.Add(time.Minute)
	check(t, "RecordResult", p.RecordResult(ctx, "n1", t2, ""))
	t3 := t2.Add(time.Minute)
	check(t, "RecordResult (error)", p.RecordResult(ctx, "n1", t3, "apns: provider_error (500 x)"))
	got, _ = p.Registration(ctx, "n1")
	if !got.LastSuccess.Equal(t2) || !got.LastError.Equal(t3) || got.LastErrorText != "apns: provider_error (500 x)" || !got.LastUsed.Equal(t3) {
		t.Errorf("after results: %+v", got)
	}

	// Same device id in another app, and another device.
	_, err = p.Register(ctx, appserver.Registration{Node: "n3", Secret: "s3", App: "ios", Token: "t3", Device: "dev1",
		Domain: "example.org", Created: t0, LastUsed: t0})
	check(t, "Register (other app)", err)
	_, err = p.Register(ctx, appserver.Registration{Node: "n4", Secret: "s4", App: "ios", Token: "t4", Device: "dev4",
		Domain: "example.net", Created: t0, LastUsed: t0})
	check(t, "Register (other device)", err)
	counts, err := p.CountRegistrations(ctx)
	check(t, "CountRegistrations", err)
	if len(counts) != 2 || counts["droid"] != 1 || counts["ios"] != 2 {
		t.Errorf("CountRegistrations = %v", counts)
	}
	all, err := p.Registrations(ctx, "")
	check(t, "Registrations", err)
	if len(all) != 3 || all[0].Node != "n1" || all[2].Node != "n4" {
		t.Errorf("Registrations(all) = %+v", all)
	}
	ios, err := p.Registrations(ctx, "ios")
	check(t, "Registrations(ios)", err)
	if len(ios) != 2 || ios[0].Node != "n3" {
		t.Errorf("Registrations(ios) = %+v", ios)
	}

	// Unregister removes the device in every app.
	n, err := p.Unregister(ctx, "dev1")
	check(t, "Unregister", err)
	if n != 2 {
		t.Errorf("Unregister removed %d, want 2", n)
	}
	if n, _ := p.Unregister(ctx, "dev1"); n != 0 {
		t.Errorf("second Unregister removed %d", n)
	}

	// ForgetUnused.
	_, err = p.Register(ctx, appserver.Registration{Node: "n5", Secret: "s5", App: "droid", Token: "t5", Device: "dev5",
		Domain: "example.org", Created: t3, LastUsed: t3})
	check(t, "Register", err)
	k, err := p.ForgetUnused(ctx, t1)
	check(t, "ForgetUnused", err)
	if k != 1 {
		t.Errorf("ForgetUnused removed %d, want 1 (n4)", k)
	}
	check(t, "DeleteRegistration", p.DeleteRegistration(ctx, "n5"))
	check(t, "DeleteRegistration (missing)", p.DeleteRegistration(ctx, "n5"))

	// Deleting an app deletes its registrations.
	_, err = p.Register(ctx, appserver.Registration{Node: "n6", Secret: "s6", App: "ios", Token: "t6", Device: "dev6",
		Domain: "example.org", Created: t3, LastUsed: t3})
	check(t, "Register", err)
	g2, _ := p.AppsGeneration(ctx)
	check(t, "DeleteApp", p.DeleteApp(ctx, "ios"))
	wantErr(t, "DeleteApp (missing)", p.DeleteApp(ctx, "ios"), appserver.ErrNotFound)
	if g3, _ := p.AppsGeneration(ctx); g3 != g2+1 {
		t.Errorf("generation %d after DeleteApp, want %d", g3, g2+1)
	}
	_, err = p.Registration(ctx, "n6")
	wantErr(t, "Registration of a deleted app's device", err, appserver.ErrNotFound)
}
