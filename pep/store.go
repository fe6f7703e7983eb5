package pep

import (
	"context"
	"errors"
)

// Sentinel errors of a Store.
var (
	// ErrNotFound means the node (or the item) does not exist.
	ErrNotFound = errors.New("pep: not found")
	// ErrExists means a node of that name exists already.
	ErrExists = errors.New("pep: node exists")
)

// Access models (XEP-0060 §4.5).
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessWhitelist = "whitelist"
)

// Values of pubsub#send_last_published_item.
const (
	SendLastNever            = "never"
	SendLastOnSub            = "on_sub"
	SendLastOnSubAndPresence = "on_sub_and_presence"
)

// NodeConfig is the configuration of a node (the pubsub#node_config fields
// this service implements).
type NodeConfig struct {
	Access        string // pubsub#access_model: AccessOpen, AccessPresence or AccessWhitelist
	PersistItems  bool   // pubsub#persist_items
	MaxItems      int    // pubsub#max_items; 0 means "max" (Config.MaxItems)
	SendLast      string // pubsub#send_last_published_item
	NotifyRetract bool   // pubsub#notify_retract
	NotifyDelete  bool   // pubsub#notify_delete
}

// DefaultNodeConfig is the configuration of a node created without options
// (XEP-0163 §4.3: access model presence; one persistent item).
var DefaultNodeConfig = NodeConfig{
	Access:        AccessPresence,
	PersistItems:  true,
	MaxItems:      1,
	SendLast:      SendLastOnSubAndPresence,
	NotifyRetract: true,
	NotifyDelete:  true,
}

// Node is a node and its configuration.
type Node struct {
	Name   string
	Config NodeConfig
}

// Item is a published item: its id and its payload, one element serialized
// with its own namespace declaration (xml.Parse(Payload, "") reads it).
type Item struct {
	ID      string
	Payload []byte
}

// Subscription is an explicit subscription to a node.
type Subscription struct {
	Node, JID string
}

// NodeItem is a node with its newest item.
type NodeItem struct {
	Node
	Item Item
}

// Store keeps the nodes and items of every account's personal eventing
// service, and the entity capabilities the service learnt. Owners are
// bare JIDs as jid.JID.String writes them. Items of a node are ordered by
// publication: publishing an item with the id of an existing one replaces
// it and makes it the newest.
type Store interface {
	// Node returns a node's configuration, or ErrNotFound.
	Node(ctx context.Context, owner, node string) (NodeConfig, error)
	// Nodes returns the owner's nodes, sorted by name.
	Nodes(ctx context.Context, owner string) ([]Node, error)
	// CreateNode creates a node; ErrExists if it exists.
	CreateNode(ctx context.Context, owner, node string, cfg NodeConfig) error
	// ConfigureNode replaces a node's configuration (ErrNotFound) and
	// keeps only its newest keep items (keep > 0).
	ConfigureNode(ctx context.Context, owner, node string, cfg NodeConfig, keep int) error
	// DeleteNode deletes a node and its items; ErrNotFound if missing.
	DeleteNode(ctx context.Context, owner, node string) error
	// Publish stores an item as the node's newest (ErrNotFound without
	// the node) and keeps only the newest keep items (keep > 0).
	Publish(ctx context.Context, owner, node string, it Item, keep int) error
	// Usage returns the bytes of the payloads of all the owner's items
	// but the one with id in node (the one a publication replaces).
	Usage(ctx context.Context, owner, node, id string) (int64, error)
	// Items returns the newest max items of a node (all for max <= 0),
	// oldest first; ErrNotFound without the node.
	Items(ctx context.Context, owner, node string, max int) ([]Item, error)
	// ItemsByID returns the node's items with the given ids that exist,
	// oldest first; ErrNotFound without the node.
	ItemsByID(ctx context.Context, owner, node string, ids []string) ([]Item, error)
	// Retract deletes an item; ErrNotFound if the node or item is missing.
	Retract(ctx context.Context, owner, node, id string) error
	// Purge deletes every item of a node; ErrNotFound without the node.
	Purge(ctx context.Context, owner, node string) error
	// LastItems returns the owner's nodes that have items, each with its
	// newest, sorted by node name.
	LastItems(ctx context.Context, owner string) ([]NodeItem, error)

	// Subscribe records an explicit subscription of jid (bare or full) to
	// a node (XEP-0060 §6.1); ErrNotFound without the node. Subscribing
	// again changes nothing.
	Subscribe(ctx context.Context, owner, node, jid string) error
	// Unsubscribe removes a subscription; ErrNotFound if there is none.
	Unsubscribe(ctx context.Context, owner, node, jid string) error
	// NodeSubscribers returns the JIDs subscribed to a node, sorted.
	NodeSubscribers(ctx context.Context, owner, node string) ([]string, error)
	// Subscriptions returns the subscriptions to the owner's nodes of
	// the JIDs given (a bare JID and a full one, typically), sorted by
	// node and JID.
	Subscriptions(ctx context.Context, owner string, jids ...string) ([]Subscription, error)

	// PrivateXML returns the private XML fragment (XEP-0049) an owner
	// stored under a namespace, or ErrNotFound.
	PrivateXML(ctx context.Context, owner, ns string) ([]byte, error)
	// SetPrivateXML stores (replaces) a private XML fragment.
	SetPrivateXML(ctx context.Context, owner, ns string, data []byte) error

	// Caps returns the disco#info <query/> stored for a XEP-0115
	// verification string, or ErrNotFound.
	Caps(ctx context.Context, ver string) ([]byte, error)
	// SetCaps stores the disco#info <query/> of a verification string.
	SetCaps(ctx context.Context, ver string, info []byte) error
}
