package postgres

// LeaderPID exposes leaderPID to the external tests.
func LeaderPID(s *Store) uint32 { return s.leaderPID() }
