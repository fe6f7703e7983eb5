package mam

import "dormouse.im/dormouse/xml"

// ParseQuery exposes the query parser to the fuzz test: it parses a
// <query/> element and reports whether it was accepted.
func ParseQuery(el *xml.Element, fulltext bool) error {
	_, err := parseRequest(el, fulltext)
	return err
}
