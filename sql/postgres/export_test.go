package postgres

import "dormouse.im/dormouse/mam"

// BuildQuery exposes buildQuery to the tests of package postgres_test.
func BuildQuery(q mam.Query, words []string, limit int) (page string, pageArgs []any, count string, countArgs []any) {
	aq := buildQuery(q, words, limit)
	return aq.page, aq.pageArgs, aq.count, aq.countArgs
}

// RareTextQuery is rareTextQuery, for the tests of package postgres_test.
const RareTextQuery = rareTextQuery
