package muc

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (possibly wrapped) by a Store for a room it does
// not hold.
var ErrNotFound = errors.New("muc: not found")

// Affiliation is a long-lived relation of a bare JID to a room (XEP-0045 §5.2).
type Affiliation string

// The affiliations, highest first.
const (
	Owner   Affiliation = "owner"
	Admin   Affiliation = "admin"
	Member  Affiliation = "member"
	None    Affiliation = "none"
	Outcast Affiliation = "outcast"
)

// rank orders affiliations: owner 4 … outcast 0.
func (a Affiliation) rank() int {
	switch a {
	case Owner:
		return 4
	case Admin:
		return 3
	case Member:
		return 2
	case Outcast:
		return 0
	}
	return 1
}

func (a Affiliation) valid() bool {
	switch a {
	case Owner, Admin, Member, None, Outcast:
		return true
	}
	return false
}

// Role is an occupant's temporary position in a room (XEP-0045 §5.1).
type Role string

// The roles.
const (
	Moderator   Role = "moderator"
	Participant Role = "participant"
	Visitor     Role = "visitor"
	NoRole      Role = "none"
)

func (r Role) valid() bool {
	switch r {
	case Moderator, Participant, Visitor, NoRole:
		return true
	}
	return false
}

// RoomConfig is a room's configuration, as the muc#roomconfig form sets it
// (XEP-0045 §10.2, §15.5.3).
type RoomConfig struct {
	Name          string `json:"name,omitempty"`
	Description   string `json:"description,omitempty"`
	Persistent    bool   `json:"persistent,omitempty"`
	Public        bool   `json:"public,omitempty"`
	MembersOnly   bool   `json:"members_only,omitempty"`
	Moderated     bool   `json:"moderated,omitempty"`
	Password      string `json:"password,omitempty"`
	WhoIs         string `json:"whois,omitempty"` // "moderators" (semi-anonymous) or "anyone"
	MaxUsers      int    `json:"max_users,omitempty"`
	ChangeSubject bool   `json:"change_subject,omitempty"` // participants may change the subject
	AllowInvites  bool   `json:"allow_invites,omitempty"`  // participants may invite
	AllowPM       string `json:"allow_pm,omitempty"`       // "anyone", "participants", "moderators" or "none"
	Archiving     bool   `json:"archiving,omitempty"`      // muc#roomconfig_enablearchiving
}

// AffiliationItem is one entry of a room's affiliation lists.
type AffiliationItem struct {
	JID         string // bare JID (normalized)
	Affiliation Affiliation
	Nick        string // the nick last used or registered, "" if none
	Reason      string
}

// StoredRoom is what a Store keeps of a persistent room.
type StoredRoom struct {
	JID          string // the room's bare JID (normalized)
	Config       RoomConfig
	Subject      string
	SubjectNick  string
	SubjectStamp time.Time
	Created      time.Time
	// Affiliations lists every bare JID whose affiliation is not none
	// (any order; JIDs unique).
	Affiliations []AffiliationItem
}

// ArchivedMessage is one groupchat message in a room's archive.
type ArchivedMessage struct {
	Room   string // the room's bare JID
	ID     int64  // the stanza-id: time-ordered, unique per room
	Stamp  time.Time
	Nick   string // the sender's nick
	Sender string // the sender's real bare JID
	Body   string
	Stanza []byte // the message as broadcast (jabber:client), with its stanza-id
}

// ArchiveQuery selects messages of one room's archive. Zero fields do not
// filter. Paging is keyset paging on ID.
type ArchiveQuery struct {
	Room              string
	Start, End        time.Time // inclusive
	AfterID, BeforeID int64     // exclusive
	Sender            string    // real bare JID of the sender
	IDs               []int64   // if not empty, only these ids (unknown ones are ignored)
	Max               int       // most messages returned (<= 0: none)
	Last              bool      // the newest Max matching messages instead of the oldest
}

// ArchivePage is the answer to an ArchiveQuery: messages in ID order, and
// whether no further match exists in the paging direction.
type ArchivePage struct {
	Messages []ArchivedMessage
	Complete bool
}

// Store persists rooms and room archives (sql/sqlite, sql/postgres). It must
// be safe for concurrent use.
type Store interface {
	// Rooms returns every stored room.
	Rooms(ctx context.Context) ([]StoredRoom, error)
	// SaveRoom inserts or replaces a room with its affiliations, atomically.
	SaveRoom(ctx context.Context, r StoredRoom) error
	// DeleteRoom deletes a room, its affiliations and its archive. A room
	// that is not stored is not an error.
	DeleteRoom(ctx context.Context, room string) error
	// Archive appends a message to a room's archive; its (Room, ID) must be
	// new.
	Archive(ctx context.Context, m ArchivedMessage) error
	// QueryArchive returns one page of a room's archive.
	QueryArchive(ctx context.Context, q ArchiveQuery) (ArchivePage, error)
}
