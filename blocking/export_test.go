package blocking

// CacheLen returns the number of cached block lists.
func CacheLen(s *Service) int { return s.cache.len() }
