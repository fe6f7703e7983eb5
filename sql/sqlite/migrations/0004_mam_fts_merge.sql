-- archive_fts merges its segments in the background (the DB's merger, see
-- ftsMerger in ftsmerge.go), in short transactions of their own, instead
-- of inside the commit of whichever Append crosses a merge threshold.
-- automerge is a setting stored in the index, so it is turned off here,
-- once (large Appends turn it on for their own transaction). crisismerge
-- is the safety net: if the merger falls behind (or does not run), the
-- write adding the 32nd segment to a level merges that level, so the index
-- stays bounded. It is 32, not FTS5's 16, so that the merger can let 16
-- small segments gather before merging them in one step.
INSERT INTO archive_fts (archive_fts, rank) VALUES ('automerge', 0);
INSERT INTO archive_fts (archive_fts, rank) VALUES ('crisismerge', 32);
