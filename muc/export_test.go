package muc

import "dormouse.im/dormouse/stanza"

// Exported for tests.
var (
	Mentions        = stanza.ContainsWord
	ParseConfig     = parseConfig
	ConfigForm      = configForm
	ParseAdminItems = parseAdminItems
	ParseMAMQuery   = parseMAMQuery
)
