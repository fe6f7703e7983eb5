package pep

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"dormouse.im/dormouse/xml"
)

// Form types and field names (XEP-0060 §16.4).
const (
	NSData            = "jabber:x:data"
	FormNodeConfig    = "http://jabber.org/protocol/pubsub#node_config"
	FormPublishOption = "http://jabber.org/protocol/pubsub#publish-options"

	fieldAccess        = "pubsub#access_model"
	fieldPersist       = "pubsub#persist_items"
	fieldMaxItems      = "pubsub#max_items"
	fieldSendLast      = "pubsub#send_last_published_item"
	fieldNotifyRetract = "pubsub#notify_retract"
	fieldNotifyDelete  = "pubsub#notify_delete"
	// Fields whose only implemented value is true: every node delivers
	// notifications, with payloads.
	fieldDeliverNotifications = "pubsub#deliver_notifications"
	fieldDeliverPayloads      = "pubsub#deliver_payloads"
)

// errUnknownField is returned by NodeConfig.set for a field the service
// does not implement.
var errUnknownField = errors.New("pep: unsupported configuration field")

// Field is one submitted form field.
type Field struct {
	Var    string
	Values []string
}

// ParseForm reads a submitted data form (XEP-0004) of the given FORM_TYPE:
// its fields other than FORM_TYPE, in order. A form of another type, or
// one whose type is not submit, is an error; so is a FORM_TYPE other than
// formType (a missing one is accepted, as XEP-0060 §16.4 forms are often
// sent without). A field without var is an error.
func ParseForm(x *xml.Element, formType string) ([]Field, error) {
	if x == nil || x.Name.Space != NSData || x.Name.Local != "x" {
		return nil, errors.New("pep: not a data form")
	}
	if t := x.AttrValue("type"); t != "submit" {
		return nil, fmt.Errorf("pep: a data form of type %q, not submit", t)
	}
	var out []Field
	for _, f := range x.ChildrenNamed(NSData, "field") {
		v := f.AttrValue("var")
		if v == "" {
			return nil, errors.New("pep: a form field without var")
		}
		var vals []string
		for _, e := range f.ChildrenNamed(NSData, "value") {
			vals = append(vals, e.Text())
		}
		if v == "FORM_TYPE" {
			if len(vals) != 1 || vals[0] != formType {
				return nil, fmt.Errorf("pep: form type %q, want %s", vals, formType)
			}
			continue
		}
		out = append(out, Field{Var: v, Values: vals})
	}
	return out, nil
}

// single returns the one value of a field.
func single(f Field) (string, error) {
	if len(f.Values) != 1 {
		return "", fmt.Errorf("pep: %s needs one value, has %d", f.Var, len(f.Values))
	}
	return f.Values[0], nil
}

// oneOf returns v if it is one of the options of a list-single field.
func oneOf(field, v string, options ...string) (string, error) {
	if slices.Contains(options, v) {
		return v, nil
	}
	return "", fmt.Errorf("pep: %s %q is not supported", field, v)
}

// parseBool reads an XEP-0004 boolean.
func parseBool(s string) (bool, error) {
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("pep: %q is not a boolean", s)
}

// parseMaxItems reads pubsub#max_items: a positive number or "max" (0).
func parseMaxItems(s string) (int, error) {
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("pep: pubsub#max_items %q is not a positive number or max", s)
	}
	return n, nil
}

// set applies one configuration field: errUnknownField for fields the
// service does not implement, another error for an invalid value.
func (c *NodeConfig) set(f Field) error {
	switch f.Var {
	case fieldAccess, fieldPersist, fieldMaxItems, fieldSendLast, fieldNotifyRetract, fieldNotifyDelete,
		fieldDeliverNotifications, fieldDeliverPayloads:
	default:
		return fmt.Errorf("%w: %s", errUnknownField, f.Var)
	}
	v, err := single(f)
	if err != nil {
		return err
	}
	switch f.Var {
	case fieldAccess:
		c.Access, err = oneOf(f.Var, v, AccessOpen, AccessPresence, AccessWhitelist)
	case fieldPersist:
		c.PersistItems, err = parseBool(v)
	case fieldMaxItems:
		c.MaxItems, err = parseMaxItems(v)
	case fieldSendLast:
		c.SendLast, err = oneOf(f.Var, v, SendLastNever, SendLastOnSub, SendLastOnSubAndPresence)
	case fieldNotifyRetract:
		c.NotifyRetract, err = parseBool(v)
	case fieldNotifyDelete:
		c.NotifyDelete, err = parseBool(v)
	case fieldDeliverNotifications, fieldDeliverPayloads:
		var on bool
		if on, err = parseBool(v); err == nil && !on {
			err = fmt.Errorf("pep: %s can only be true", f.Var)
		}
	}
	return err
}

// Apply returns c changed by the fields; any unknown field or invalid
// value is an error.
func (c NodeConfig) Apply(fields []Field) (NodeConfig, error) {
	for _, f := range fields {
		if err := c.set(f); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Meets reports whether c satisfies publish-options preconditions
// (XEP-0060 §7.1.5): every field must be implemented and hold c's value.
func (c NodeConfig) Meets(fields []Field) bool {
	want, err := c.Apply(fields)
	return err == nil && want == c
}

// maxItemsValue is the form value of MaxItems.
func maxItemsValue(n int) string {
	if n == 0 {
		return "max"
	}
	return strconv.Itoa(n)
}

// Form returns c as a pubsub#node_config data form of type form (XEP-0060
// §8.2), with the field types and options.
func (c NodeConfig) Form() *xml.Element {
	x := xml.NewElement(NSData, "x", "type", "form")
	add := func(v, typ, label string, value string, options ...string) {
		f := xml.NewElement(NSData, "field", "var", v, "type", typ)
		f.SetAttr("label", label)
		for _, o := range options {
			f.AddChild(xml.NewElement(NSData, "option").AddChild(xml.NewElement(NSData, "value").AddText(o)))
		}
		f.AddChild(xml.NewElement(NSData, "value").AddText(value))
		x.AddChild(f)
	}
	add("FORM_TYPE", "hidden", "", FormNodeConfig)
	add(fieldAccess, "list-single", "Who may subscribe and retrieve items", c.Access,
		AccessOpen, AccessPresence, AccessWhitelist)
	add(fieldPersist, "boolean", "Persist items to storage", boolValue(c.PersistItems))
	add(fieldMaxItems, "text-single", "Max number of items to persist (or max)", maxItemsValue(c.MaxItems))
	add(fieldSendLast, "list-single", "When to send the last published item", c.SendLast,
		SendLastNever, SendLastOnSub, SendLastOnSubAndPresence)
	add(fieldNotifyRetract, "boolean", "Notify subscribers when items are retracted", boolValue(c.NotifyRetract))
	add(fieldNotifyDelete, "boolean", "Notify subscribers when the node is deleted", boolValue(c.NotifyDelete))
	add(fieldDeliverNotifications, "boolean", "Deliver event notifications (always)", "1")
	add(fieldDeliverPayloads, "boolean", "Deliver payloads with event notifications (always)", "1")
	return x
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
