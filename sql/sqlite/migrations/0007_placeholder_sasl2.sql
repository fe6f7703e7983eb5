-- Placeholder kept only on the sasl2 branch: version 0007 is reserved by
-- another helper's migration; delete this file when merging.
SELECT 1;
