package storetest

import (
	"bytes"
	"testing"

	"dormouse.im/dormouse/sql"
	"dormouse.im/dormouse/vcard"
)

func testVCard(t *testing.T, s *sql.Stores) {
	ctx := t.Context()
	v := s.VCard
	const user, other = "juliet@example.com", "romeo@example.net"
	createAccounts(t, s, user, other)

	_, err := v.VCard(ctx, user)
	wantErr(t, "VCard before SetVCard", err, vcard.ErrNotFound)

	card := []byte("<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><NICKNAME>🌹 Ünïcödé</NICKNAME></vCard>")
	check(t, "SetVCard", v.SetVCard(ctx, user, card))
	got, err := v.VCard(ctx, user)
	check(t, "VCard", err)
	if !bytes.Equal(got, card) {
		t.Errorf("VCard = %q, want %q", got, card)
	}
	_, err = v.VCard(ctx, other)
	wantErr(t, "VCard of another user", err, vcard.ErrNotFound)

	// Replace, with a larger card (a photo).
	card2 := append([]byte("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>"), bytes.Repeat([]byte("QUJD"), 50000)...)
	card2 = append(card2, "</BINVAL></PHOTO></vCard>"...)
	check(t, "SetVCard (replace)", v.SetVCard(ctx, user, card2))
	got, err = v.VCard(ctx, user)
	check(t, "VCard after replace", err)
	if !bytes.Equal(got, card2) {
		t.Errorf("VCard after replace: got %d bytes, want the %d of the new card", len(got), len(card2))
	}

	// Replace with a small one again.
	check(t, "SetVCard (replace)", v.SetVCard(ctx, user, card))
	got, err = v.VCard(ctx, user)
	check(t, "VCard after second replace", err)
	if !bytes.Equal(got, card) {
		t.Errorf("VCard after second replace = %q, want %q", got, card)
	}
}
