package session

import (
	"context"
	"time"
)

// SMRecord is what a server persists of a resumable session (SMStore), so
// that another node of a cluster can answer a <resume/> after this node
// died with the right h (XEP-0198 <failed h='…'/>).
type SMRecord struct {
	ID      string
	Account string // bare JID
	Node    string // the node that wrote it (Server.Node): the one holding the session
	// H is the server's count of the client's stanzas when the session
	// hibernated or ended; meaningless while Live.
	H uint32
	// Live: the session has a connection (resumed, or handed to another
	// node), so its h is not known from the store.
	Live bool
	// Version orders the records of one session: a record replaces the
	// stored one only if its Version is higher, so writes that arrive out
	// of order never bring back an older state.
	Version uint64
	Expires time.Time // after this the record is worthless
}

// SMStore persists SMRecords in storage every node shares. Set it only when
// other nodes need it (a cluster): a single server keeps ended sessions' h
// in memory only.
type SMStore interface {
	// PutSM stores r unless the stored record of r.ID has a Version of
	// r.Version or more.
	PutSM(ctx context.Context, r SMRecord) error
	// LostSM returns the record of the session id of account, if it has
	// not expired at now.
	LostSM(ctx context.Context, id, account string, now time.Time) (SMRecord, bool, error)
	// PurgeSM deletes the records that expired before now and returns how
	// many.
	PurgeSM(ctx context.Context, now time.Time) (int64, error)
}

// smStoreTimeout bounds one SMStore write (Shutdown waits for them).
const smStoreTimeout = 5 * time.Second

// persistSMLocked writes the session's record in the background (the versions
// order the writes), if the server has an SMStore. s.mu is held.
func (s *Session) persistSMLocked(h uint32, live bool) {
	srv := s.srv
	if srv.SMStore == nil || s.id == "" {
		return
	}
	s.smVer++
	keep := s.timeout
	if live {
		keep = srv.Config.SM.MaxResumeTimeout
	}
	r := SMRecord{
		ID: s.id, Account: s.bare, Node: srv.Node, H: h, Live: live, Version: s.smVer,
		Expires: srv.clock.Now().Add(keep + srv.Config.SM.OldSessionTTL),
	}
	srv.startWork()
	go func() {
		defer srv.doneWork()
		ctx, cancel := context.WithTimeout(context.Background(), smStoreTimeout)
		defer cancel()
		if err := srv.SMStore.PutSM(ctx, r); err != nil {
			s.log().Warn("persisting the session's h failed", "err", err)
		}
	}()
}
