package xml

import (
	"strings"
)

// Name is a namespace-resolved XML name.
type Name struct {
	Space string // namespace URI (resolved), "" if none
	Local string
}

// Attr is an attribute. Namespace declarations (xmlns, xmlns:p) are not kept
// as attributes: they are resolved into element and attribute names.
type Attr struct {
	Name  Name
	Value string // unescaped
}

// Element is a parsed XML element. Children holds child elements and text in
// document order. Text content is unescaped.
type Element struct {
	Name     Name
	Attr     []Attr
	Children []Node
}

// Node is a child of an element: exactly one of El or Text is set.
type Node struct {
	El   *Element
	Text string
}

// NewElement returns an element with the given namespace, local name, and
// unqualified attributes given as name/value pairs.
func NewElement(space, local string, attrs ...string) *Element {
	e := &Element{Name: Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Attr = append(e.Attr, Attr{Name: Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return e
}

// AttrValue returns the value of the unqualified attribute local, or "".
func (e *Element) AttrValue(local string) string {
	v, _ := e.LookupAttr(local)
	return v
}

// LookupAttr returns the value of the unqualified attribute local and whether
// it is present.
func (e *Element) LookupAttr(local string) (string, bool) {
	if e == nil {
		return "", false
	}
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == local {
			return e.Attr[i].Value, true
		}
	}
	return "", false
}

// SetAttr sets (or replaces) the unqualified attribute local. An empty value
// removes it.
func (e *Element) SetAttr(local, value string) {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == local {
			if value == "" {
				e.Attr = append(e.Attr[:i], e.Attr[i+1:]...)
			} else {
				e.Attr[i].Value = value
			}
			return
		}
	}
	if value != "" {
		e.Attr = append(e.Attr, Attr{Name: Name{Local: local}, Value: value})
	}
}

// Child returns the first child element with the given namespace and local
// name, or nil. An empty local matches any name in the namespace.
func (e *Element) Child(space, local string) *Element {
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if n.El != nil && n.El.Name.Space == space && (local == "" || n.El.Name.Local == local) {
			return n.El
		}
	}
	return nil
}

// ChildrenNamed returns all child elements with the given namespace and local
// name (an empty local matches any).
func (e *Element) ChildrenNamed(space, local string) []*Element {
	var out []*Element
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if n.El != nil && n.El.Name.Space == space && (local == "" || n.El.Name.Local == local) {
			out = append(out, n.El)
		}
	}
	return out
}

// FirstChild returns the first child element, or nil.
func (e *Element) FirstChild() *Element {
	if e == nil {
		return nil
	}
	for _, n := range e.Children {
		if n.El != nil {
			return n.El
		}
	}
	return nil
}

// Elements returns the child elements in order.
func (e *Element) Elements() []*Element {
	if e == nil {
		return nil
	}
	out := make([]*Element, 0, len(e.Children))
	for _, n := range e.Children {
		if n.El != nil {
			out = append(out, n.El)
		}
	}
	return out
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	if e == nil {
		return ""
	}
	switch len(e.Children) {
	case 0:
		return ""
	case 1:
		return e.Children[0].Text
	}
	var b strings.Builder
	for _, n := range e.Children {
		b.WriteString(n.Text)
	}
	return b.String()
}

// ChildText returns the text of the first child with the given name.
func (e *Element) ChildText(space, local string) string {
	return e.Child(space, local).Text()
}

// AddChild appends c as a child element and returns e.
func (e *Element) AddChild(c *Element) *Element {
	e.Children = append(e.Children, Node{El: c})
	return e
}

// AddText appends character data and returns e.
func (e *Element) AddText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, Node{Text: s})
	}
	return e
}

// RemoveChildren removes every child element with the given namespace and
// local name (empty local: any name) and reports how many it removed.
func (e *Element) RemoveChildren(space, local string) int {
	n := 0
	out := e.Children[:0]
	for _, c := range e.Children {
		if c.El != nil && c.El.Name.Space == space && (local == "" || c.El.Name.Local == local) {
			n++
			continue
		}
		out = append(out, c)
	}
	for i := len(out); i < len(e.Children); i++ {
		e.Children[i] = Node{}
	}
	e.Children = out
	return n
}

// Copy returns a deep copy of e.
func (e *Element) Copy() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Name: e.Name}
	if len(e.Attr) > 0 {
		c.Attr = append([]Attr(nil), e.Attr...)
	}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if n.El != nil {
				c.Children[i] = Node{El: n.El.Copy()}
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}
