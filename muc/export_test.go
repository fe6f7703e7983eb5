package muc

// Exported for tests.
var (
	Mentions        = mentions
	ParseConfig     = parseConfig
	ConfigForm      = configForm
	ParseAdminItems = parseAdminItems
	ParseMAMQuery   = parseMAMQuery
)
