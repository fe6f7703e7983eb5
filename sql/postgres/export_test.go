package postgres

import (
	"context"

	"dormouse.im/dormouse/mam"
)

// BuildQuery exposes buildQuery to the tests of package postgres_test.
func BuildQuery(q mam.Query, words []string, limit int) (page string, pageArgs []any, count string, countArgs []any) {
	aq := buildQuery(q, words, limit)
	return aq.page, aq.pageArgs, aq.count, aq.countArgs
}

// RareTextQuery is rareTextQuery, for the tests of package postgres_test.
const RareTextQuery = rareTextQuery

// IndexFTS indexes up to a batch of queued messages of any archive (owner
// "") or all of owner's, as the indexer and full-text queries do.
func (db *DB) IndexFTS(ctx context.Context, owner string) (int64, error) {
	return db.indexFTS(ctx, owner)
}

// FTSIndexBatch is ftsIndexBatch.
const FTSIndexBatch = ftsIndexBatch
