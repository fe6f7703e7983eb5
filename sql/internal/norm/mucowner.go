package norm

// MUCRoomQueries return the queries of MUCRoomsQuery and
// MUCAffiliationsQuery for one room, whose JID is the parameter ph ("$1"
// or "?").
func MUCRoomQueries(ph string) (rooms, affiliations string) {
	return `SELECT jid, config, subject, subject_nick, subject_stamp, created FROM muc_rooms WHERE jid = ` + ph,
		`SELECT room, jid, affiliation, nick, reason FROM muc_affiliations WHERE room = ` + ph + ` ORDER BY room, jid`
}
