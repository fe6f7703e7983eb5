package mamtest

import (
	"fmt"
	"time"

	"dormouse.im/dormouse/mam"
)

// Conversation returns messages from to from+n-1 sent by a to b, each in
// both archives (a's copy, then b's): message i is i seconds after base
// and says "message i", followed by " of roses" when i%3 == 0.
func Conversation(a, b string, base time.Time, from, n int) []mam.Message {
	ms := make([]mam.Message, 0, 2*n)
	for i := from; i < from+n; i++ {
		stamp := base.Add(time.Duration(i) * time.Second)
		body := fmt.Sprintf("message %d", i)
		if i%3 == 0 {
			body += " of roses"
		}
		m := mam.Message{ID: stamp.UnixMilli() << 20, Owner: a, With: b, Outgoing: true, Stamp: stamp,
			Body: body, Stanza: []byte("<message/>")}
		r := m
		r.Owner, r.With, r.Outgoing = b, a, false
		ms = append(ms, m, r)
	}
	return ms
}
